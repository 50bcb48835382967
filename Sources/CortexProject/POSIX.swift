import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small wrappers over the POSIX calls the project code needs.
enum POSIXText {
    /// `strerror(errno)` as a Swift string.
    static func errnoMessage(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}

/// What `stat`/`lstat` said about a path.
struct FileInfo {
    enum Kind { case regular, directory, symlink, other }

    var kind: Kind
    var mode: UInt32
    var device: UInt64
    var inode: UInt64
    var size: Int64

    /// `lstat` (does not follow a final symlink); nil if the path does not exist.
    static func lstatAt(_ path: String) -> FileInfo? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }

    /// `stat` (follows symlinks); nil if the path (or a symlink's target) does not exist.
    static func statAt(_ path: String) -> FileInfo? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }

    private init(_ st: stat) {
        let mode = UInt32(st.st_mode)
        switch mode & 0o170000 {
        case 0o100000: kind = .regular
        case 0o040000: kind = .directory
        case 0o120000: kind = .symlink
        default: kind = .other
        }
        self.mode = mode
        self.device = UInt64(truncatingIfNeeded: st.st_dev)
        self.inode = UInt64(truncatingIfNeeded: st.st_ino)
        self.size = Int64(st.st_size)
    }

    /// The permission bits (including setuid/setgid/sticky).
    var permissions: UInt32 { mode & 0o7777 }
}

enum PathUtil {
    /// `realpath(3)`: the absolute path with symlinks, `.` and `..` resolved; nil if it does not exist.
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Joins a directory and a relative path with exactly one "/".
    static func join(_ base: String, _ relative: String) -> String {
        if relative.isEmpty { return base }
        if base.hasSuffix("/") { return base + relative }
        return base + "/" + relative
    }

    /// The current user's home directory, resolved (nil if unknown).
    static func homeDirectory() -> String? {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty,
            let resolved = resolve(home)
        {
            return resolved
        }
        if let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir {
            return resolve(String(cString: dir))
        }
        return nil
    }

    /// Whether `path` is `ancestor` or lies below it (both absolute, resolved).
    static func isSameOrInside(_ path: String, _ ancestor: String) -> Bool {
        if path == ancestor { return true }
        let prefix = ancestor.hasSuffix("/") ? ancestor : ancestor + "/"
        return path.hasPrefix(prefix)
    }

    /// Lexicographic order of UTF-8 bytes (as Go's `sort.Strings`), stable across platforms.
    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
