import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Builds a staging directory holding exactly the visible project files, so files excluded
/// by ``ProjectFiles`` (hidden files, `.cortexignore` matches, the config…) are really
/// invisible to the predictor.
///
/// Files are hard-linked where possible (cheap, and permissions come along since the inode is
/// shared) and copied otherwise (e.g. across devices), preserving permission bits. Symlinked
/// files are staged as their target's contents. Note that a hard-linked staged file *is* the
/// project file: writing to it in place writes to the project.
public enum ProjectStager {
    /// Stages `files` (paths relative to `root`, as returned by
    /// ``ProjectFiles/list(root:configFile:includeEnvFile:)``) into `destination`.
    ///
    /// `destination` is created with its parents; if it already exists it is removed first, so
    /// re-staging never leaves stale files behind. Refuses a destination that is `/`, the home
    /// directory, or the project root or one of its ancestors (removing it would delete the
    /// project), and file paths that are absolute or contain `..`. Files are hard-linked where the
    /// file system allows, unless `copying` (a snapshot that later edits to the project must not reach).
    public static func stage(root: String, files: [String], into destination: String, copying: Bool = false)
        throws(ProjectError)
    {
        guard let resolvedRoot = PathUtil.resolve(root) else {
            throw ProjectError("\(root): project directory does not exist")
        }
        let absoluteDestination = absolutize(destination)
        let resolvedDestination = resolveAllowingMissing(absoluteDestination)
        if resolvedDestination == "/" || resolvedDestination == PathUtil.homeDirectory() {
            throw ProjectError("\(destination): refusing to use this directory for staging")
        }
        if PathUtil.isSameOrInside(resolvedRoot, resolvedDestination) {
            throw ProjectError(
                "\(destination): staging directory must not be the project directory or contain it")
        }
        for file in files {
            let components = file.split(separator: "/", omittingEmptySubsequences: false)
            if file.isEmpty || file.hasPrefix("/")
                || components.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty })
            {
                throw ProjectError("\(file): not a relative path inside the project")
            }
        }

        let fm = FileManager.default
        if FileInfo.lstatAt(absoluteDestination) != nil {
            do {
                try fm.removeItem(atPath: absoluteDestination)
            } catch {
                throw ProjectError(
                    "\(destination): cannot remove the previous staging directory: \(error.localizedDescription)"
                )
            }
        }
        do {
            try fm.createDirectory(atPath: absoluteDestination, withIntermediateDirectories: true)
        } catch {
            throw ProjectError(
                "\(destination): cannot create staging directory: \(error.localizedDescription)")
        }

        var createdDirectories: Set<String> = [""]
        for file in files {
            let source = PathUtil.join(resolvedRoot, file)
            let target = PathUtil.join(absoluteDestination, file)
            if let slash = file.lastIndex(of: "/") {
                let parent = String(file[..<slash])
                if !createdDirectories.contains(parent) {
                    do {
                        try fm.createDirectory(
                            atPath: PathUtil.join(absoluteDestination, parent), withIntermediateDirectories: true)
                    } catch {
                        throw ProjectError(
                            "\(PathUtil.join(destination, parent)): cannot create directory: \(error.localizedDescription)"
                        )
                    }
                    createdDirectories.insert(parent)
                }
            }
            try stageFile(source: source, target: target, copying: copying)
        }
    }

    /// Hard-links `source` (resolved through symlinks) to `target` (unless `copying`), or copies it.
    static func stageFile(source: String, target: String, copying: Bool) throws(ProjectError) {
        guard let real = PathUtil.resolve(source), let info = FileInfo.statAt(real) else {
            throw ProjectError("\(source): file does not exist")
        }
        guard info.kind == .regular else {
            throw ProjectError("\(source): not a regular file")
        }
        if !copying, link(real, target) == 0 { return }
        try copy(source: real, target: target, permissions: info.permissions)
    }

    /// Copies bytes from `source` to a new file `target`, then applies `permissions`.
    static func copy(source: String, target: String, permissions: UInt32) throws(ProjectError) {
        let input = open(source, O_RDONLY)
        guard input >= 0 else {
            throw ProjectError("\(source): cannot read file: \(POSIXText.errnoMessage())")
        }
        defer { _ = close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC, mode_t(0o600))
        guard output >= 0 else {
            throw ProjectError("\(target): cannot create file: \(POSIXText.errnoMessage())")
        }
        var closed = false
        defer { if !closed { _ = close(output) } }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw ProjectError("\(source): cannot read file: \(POSIXText.errnoMessage())")
            }
            if n == 0 { break }
            var written = 0
            while written < n {
                let w = write(output, buffer + written, n - written)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw ProjectError("\(target): cannot write file: \(POSIXText.errnoMessage())")
                }
                written += w
            }
        }
        if fchmod(output, mode_t(permissions)) != 0 {
            throw ProjectError("\(target): cannot set permissions: \(POSIXText.errnoMessage())")
        }
        closed = true
        if close(output) != 0 {
            throw ProjectError("\(target): cannot write file: \(POSIXText.errnoMessage())")
        }
    }

    private static func absolutize(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return PathUtil.join(FileManager.default.currentDirectoryPath, path)
    }

    /// Resolves the longest existing prefix of an absolute path and appends the rest.
    private static func resolveAllowingMissing(_ path: String) -> String {
        var existing = path
        var rest: [String] = []
        while PathUtil.resolve(existing) == nil {
            let url = URL(fileURLWithPath: existing)
            rest.insert(url.lastPathComponent, at: 0)
            let parent = url.deletingLastPathComponent().path
            if parent == existing || parent.isEmpty { break }
            existing = parent
        }
        var result = PathUtil.resolve(existing) ?? existing
        for component in rest where component != "." {
            if component == ".." {
                result = URL(fileURLWithPath: result).deletingLastPathComponent().path
            } else {
                result = PathUtil.join(result, component)
            }
        }
        return result
    }
}
