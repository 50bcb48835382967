import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A scratch directory under the system temporary directory, removed by ``remove()``.
struct TempDirectory {
    let path: String

    init(_ label: String = "cortex-project-tests") throws {
        let base = FileManager.default.temporaryDirectory.path
        let path = "\(base)/\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Resolve (e.g. /tmp may be a symlink) so comparisons with resolved paths work.
        self.path = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    func url(_ relative: String) -> String { relative.isEmpty ? path : "\(path)/\(relative)" }

    /// Writes a file (creating parent directories) with the given text and mode.
    @discardableResult
    func write(_ relative: String, _ text: String = "", mode: Int? = nil) throws -> String {
        try write(relative, bytes: Array(text.utf8), mode: mode)
    }

    @discardableResult
    func write(_ relative: String, bytes: [UInt8], mode: Int? = nil) throws -> String {
        let full = url(relative)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        if let mode {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
        }
        return full
    }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(
            atPath: url(relative), withIntermediateDirectories: true)
    }

    func symlink(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: url(relative), withDestinationPath: target)
    }

    func read(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: url(relative)).map { Array($0) }
    }

    func mode(_ relative: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: url(relative)))?[.posixPermissions] as? Int
    }

    func exists(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: url(relative))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
