import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The files of a project directory that a predictor may see.
///
/// Mirrors Cortex v0.23's `findProjectFiles`: everything below the directory holding the
/// config, except the config file itself, files and folders whose name starts with `.`,
/// `__pycache__` folders, `*.pyc`/`*.pyo`/`*.pyd`, names starting with `cortex-debug-`, and
/// whatever the root's `.cortexignore` (gitignore syntax) matches.
public struct ProjectFiles: Sendable {
    /// Name of the ignore file read from the project root.
    public static let ignoreFileName = ".cortexignore"
    /// Name of the environment file read from the project root.
    public static let envFileName = ".env"

    /// Lists the visible files of the project rooted at `root`.
    ///
    /// - Parameters:
    ///   - root: the project directory (the one holding the config file).
    ///   - configFile: path of the API config file (absolute, or relative to the current
    ///     directory); it is excluded wherever it resolves to inside the tree.
    ///   - includeEnvFile: also list `root/.env` if it is a file (Cortex adds it back to the
    ///     uploaded project explicitly, so it counts for change detection); default `false`.
    /// - Returns: sorted (by UTF-8 bytes) `/`-separated paths relative to `root` of the included
    ///   regular files. Symlinked files are included; symlinked directories are followed only
    ///   when they resolve inside `root` and do not loop; dangling links, sockets, FIFOs and
    ///   devices are skipped.
    /// - Throws: ``ProjectError`` if `root` is `/` or the user's home directory, does not exist
    ///   or is not a directory, or a directory or the `.cortexignore` cannot be read.
    public static func list(root: String, configFile: String, includeEnvFile: Bool = false)
        throws(ProjectError) -> [String]
    {
        guard let resolvedRoot = PathUtil.resolve(root) else {
            throw ProjectError("\(root): project directory does not exist")
        }
        guard FileInfo.statAt(resolvedRoot)?.kind == .directory else {
            throw ProjectError("\(root): project directory is not a directory")
        }
        if resolvedRoot == "/" {
            throw ProjectError(
                "\(root): cannot use the root directory (/) as a project directory; "
                    + "move cortex.yaml and your predictor into a dedicated folder")
        }
        if let home = PathUtil.homeDirectory(), home == resolvedRoot {
            throw ProjectError(
                "\(root): cannot use your home directory (\(home)) as a project directory; "
                    + "move cortex.yaml and your predictor into a dedicated folder")
        }

        let rules = try loadIgnoreRules(root: resolvedRoot)

        var walker = Walker(
            root: resolvedRoot, rules: rules,
            config: PathUtil.resolve(configFile).flatMap { path in
                FileInfo.statAt(path).map { (path: path, info: $0) }
            })
        try walker.walk(directory: resolvedRoot, relative: "", ancestors: [resolvedRoot])
        var files = walker.files
        if includeEnvFile {
            let envPath = PathUtil.join(resolvedRoot, envFileName)
            if FileInfo.statAt(envPath)?.kind == .regular, !files.contains(envFileName) {
                files.append(envFileName)
            }
        }
        return files.sorted(by: PathUtil.byteOrder)
    }

    /// Reads `root/.cortexignore` (empty rules if there is none).
    public static func loadIgnoreRules(root: String) throws(ProjectError) -> IgnoreRules {
        let path = PathUtil.join(root, ignoreFileName)
        guard let info = FileInfo.statAt(path) else { return IgnoreRules() }
        guard info.kind == .regular else {
            throw ProjectError("\(path): expected a file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProjectError("\(path): cannot read file")
        }
        return IgnoreRules(text: String(decoding: data, as: UTF8.self))
    }

    /// Whether a file or folder name is excluded by Cortex's fixed rules (before `.cortexignore`).
    public static func isAlwaysExcluded(name: String, isDirectory: Bool) -> Bool {
        if name.hasPrefix(".") || name.hasPrefix("cortex-debug-") { return true }
        if isDirectory { return name == "__pycache__" }
        return name.hasSuffix(".pyc") || name.hasSuffix(".pyo") || name.hasSuffix(".pyd")
    }

    /// A SHA-256 hex digest over the given files' relative paths, executable bits and contents,
    /// in the order given (pass the output of ``list(root:configFile:includeEnvFile:)``). Any
    /// change to the set of files, a file's bytes, or its executable bits changes the hash.
    public static func contentHash(root: String, files: [String]) throws(ProjectError) -> String {
        var hasher = SHA256()
        for file in files {
            let path = PathUtil.join(root, file)
            guard let info = FileInfo.statAt(path) else {
                throw ProjectError("\(path): file disappeared while hashing the project")
            }
            let header = "\(file)\u{0}\(String(info.permissions & 0o111, radix: 8))\u{0}\(info.size)\u{0}"
            hasher.update(data: Data(header.utf8))
            try Digest.update(&hasher, fileAt: path)
        }
        return hasher.finalize().hexString
    }

    /// Recursive directory walk.
    private struct Walker {
        let root: String
        let rules: IgnoreRules
        let config: (path: String, info: FileInfo)?
        var files: [String] = []

        mutating func walk(directory: String, relative: String, ancestors: Set<String>)
            throws(ProjectError)
        {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw ProjectError("\(directory): cannot list directory: \(error.localizedDescription)")
            }
            for name in names.sorted(by: PathUtil.byteOrder) {
                let fullPath = PathUtil.join(directory, name)
                let relativePath = relative.isEmpty ? name : relative + "/" + name
                guard let linkInfo = FileInfo.lstatAt(fullPath) else { continue }
                // Follow symlinks to find out what the entry is; dangling links are skipped.
                let info: FileInfo
                if linkInfo.kind == .symlink {
                    guard let target = FileInfo.statAt(fullPath) else { continue }
                    info = target
                } else {
                    info = linkInfo
                }
                switch info.kind {
                case .directory:
                    if ProjectFiles.isAlwaysExcluded(name: name, isDirectory: true) { continue }
                    if rules.isIgnored(relativePath, isDirectory: true) { continue }
                    var next = ancestors
                    if linkInfo.kind == .symlink {
                        // Follow only links that stay inside the project and do not loop.
                        guard let resolved = PathUtil.resolve(fullPath),
                            PathUtil.isSameOrInside(resolved, root),
                            !ancestors.contains(resolved)
                        else { continue }
                        next.insert(resolved)
                    } else {
                        next.insert(PathUtil.resolve(fullPath) ?? fullPath)
                    }
                    try walk(directory: fullPath, relative: relativePath, ancestors: next)
                case .regular:
                    if ProjectFiles.isAlwaysExcluded(name: name, isDirectory: false) { continue }
                    if rules.isIgnored(relativePath, isDirectory: false) { continue }
                    if let config, config.info.device == info.device, config.info.inode == info.inode,
                        PathUtil.resolve(fullPath) == config.path
                    {
                        continue
                    }
                    files.append(relativePath)
                case .symlink, .other:
                    continue
                }
            }
        }
    }
}
