import Foundation

/// A model folder that does not have a valid layout; the message names the path.
public struct ModelLayoutError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads model folders as Cortex laid them out: integer-named sub-folders are versions; a folder
/// without them is version "1"; each version must hold what its predictor type loads.
///
/// The same rules, with the same messages, are applied to S3 listings by the runtime's `s3sync`; both are
/// pinned by `Tests/vectors/model_layouts.json` (`docs/CORTEX-COMPATIBILITY.md`, "Model layouts"). The
/// folder's structure (strays, duplicate versions) is checked before any version's contents, and every
/// error names the first offender by name, so the outcome never depends on the directory listing's order.
public enum ModelLayout {
    /// The versions in `directory`, ascending.
    public static func versions(of directory: String, format: ModelFormat) throws(ModelLayoutError) -> [ModelVersion] {
        let children = try visibleChildren(of: directory).sorted()
        let versionDirectories = children.filter { isDirectory("\(directory)/\($0)") && isVersionName($0) }
            .sorted { (Int64($0)!, $0) < (Int64($1)!, $1) }
        if versionDirectories.isEmpty {
            try validate(directory, format: format)
            return [ModelVersion(version: "1", path: directory, stamp: stamp(of: directory))]
        }
        if let stray = children.first(where: { !versionDirectories.contains($0) }) {
            throw ModelLayoutError(
                "\(directory)/\(stray): a versioned model folder may only hold integer-named version folders")
        }
        var seen: [Int64: String] = [:]
        for name in versionDirectories {
            if let other = seen.updateValue(name, forKey: Int64(name)!) {
                throw ModelLayoutError(
                    "\(directory)/\(name): version \(Int64(name)!) is also \(directory)/\(other)")
            }
        }
        var versions: [ModelVersion] = []
        for name in versionDirectories {
            let path = "\(directory)/\(name)"
            if try visibleChildren(of: path).isEmpty { continue }  // an empty version folder is skipped
            try validate(path, format: format)
            versions.append(ModelVersion(version: String(Int64(name)!), path: path, stamp: stamp(of: path)))
        }
        return versions
    }

    /// All digits, within Int64 ("-1" and "+5" are not versions).
    static func isVersionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            && Int64(name) != nil
    }

    /// `predictor.models.dir`: each direct child folder is a model named after it.
    public static func models(inDirectory directory: String, format: ModelFormat) throws(ModelLayoutError)
        -> [ModelEntry]
    {
        var entries: [ModelEntry] = []
        for name in try visibleChildren(of: directory).sorted() where isDirectory("\(directory)/\(name)") {
            entries.append(ModelEntry(name: name, versions: try versions(of: "\(directory)/\(name)", format: format)))
        }
        return entries
    }

    static func validate(_ path: String, format: ModelFormat) throws(ModelLayoutError) {
        let children = try visibleChildren(of: path)
        switch format {
        case .python:
            if children.isEmpty { throw ModelLayoutError("\(path): the model folder is empty") }
        case .onnx:
            let onnx = children.filter { $0.hasSuffix(".onnx") && !isDirectory("\(path)/\($0)") }
            guard onnx.count == 1, children.count == 1 else {
                throw ModelLayoutError(
                    "\(path): an ONNX model version must hold exactly one .onnx file and nothing else, found \(children.isEmpty ? "nothing" : children.sorted().joined(separator: ", "))"
                )
            }
        case .tensorflow:
            // Files, not folders of those names (as on S3, where only objects are files).
            let variables = ((try? visibleChildren(of: "\(path)/variables")) ?? []).filter {
                !isDirectory("\(path)/variables/\($0)")
            }
            guard children.contains("saved_model.pb"), !isDirectory("\(path)/saved_model.pb"),
                variables.contains("variables.index"),
                variables.contains(where: { $0.hasPrefix("variables.data-00000-of-") })
            else {
                throw ModelLayoutError(
                    "\(path): a TensorFlow model version must hold saved_model.pb, variables/variables.index and variables/variables.data-00000-of-*"
                )
            }
        }
    }

    static func visibleChildren(of path: String) throws(ModelLayoutError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
        } catch {
            throw ModelLayoutError("\(path): \(isDirectory(path) ? "cannot be read" : "is not a directory")")
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Newest modification time and total size of the files below `path`.
    static func stamp(of path: String) -> String {
        var newest = 0.0
        var size: Int64 = 0
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            var info = stat()
            guard stat("\(path)/\(relative)", &info) == 0 else { continue }
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            newest = max(newest, modified)
            if (info.st_mode & S_IFMT) == S_IFREG { size += Int64(info.st_size) }
        }
        return String(format: "%.6f-%lld", newest, size)
    }
}
