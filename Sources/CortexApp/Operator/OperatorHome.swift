import Foundation

/// `CORTEX_HOME`: the local operator's state directory, which belongs to the user alone (0700).
///
/// ```
/// $CORTEX_HOME/
///   operator.sock         control socket (0600)
///   operator.lock         held (flock) by the running operator: one per CORTEX_HOME
///   operator.log          the operator's own output
///   apis/<name>.json      one deployed API (DeployedAPI), written atomically
///   projects/<digest>/    project snapshots taken by `deploy`
///   logs/<name>.log       one API's log (0600)
///   run/                  worker sockets
/// ```
public struct OperatorHome: Sendable {
    public let path: String

    /// `CortexHome.path`: `$CORTEX_HOME`, else `$XDG_STATE_HOME/cortex`, else `~/.local/state/cortex`.
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) -> OperatorHome {
        OperatorHome(path: CortexHome.path(environment: environment))
    }

    public init(path: String) { self.path = path }

    public var socket: String { path + "/operator.sock" }
    var lockFile: String { path + "/operator.lock" }
    public var operatorLog: String { path + "/operator.log" }
    var apis: String { path + "/apis" }
    var projects: String { path + "/projects" }
    var logs: String { path + "/logs" }
    var run: String { path + "/run" }
    public func logFile(of api: String) -> String { "\(logs)/\(api).log" }
    func specFile(of api: String) -> String { "\(apis)/\(api).json" }

    /// The longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its terminator).
    static let maximumSocketPath = 107

    /// Creates the directory (0700) and its folders, or checks an existing one: it must be a directory
    /// owned by this user that no one else can write. Throws a message saying what to change.
    public func prepare() throws(OperatorError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw OperatorError("CORTEX_HOME \(path): \(String(cString: strerror(errno)))")
            }
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw OperatorError("CORTEX_HOME \(path): cannot create it: \(error.localizedDescription)")
            }
            guard lstat(path, &info) == 0 else { throw OperatorError("CORTEX_HOME \(path): cannot read it back") }
        }
        if let problem = Self.ownershipProblem(mode: info.st_mode, owner: info.st_uid, user: getuid()) {
            throw OperatorError("CORTEX_HOME \(path): \(problem)")
        }
        for folder in [apis, projects, logs, run] {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw OperatorError("CORTEX_HOME \(path): cannot create \(folder): \(error.localizedDescription)")
            }
        }
        guard socket.utf8.count <= Self.maximumSocketPath else {
            throw OperatorError(
                "CORTEX_HOME \(path): too long for a Unix socket path (\(socket.utf8.count) bytes, at most \(Self.maximumSocketPath)); choose a shorter CORTEX_HOME"
            )
        }
    }

    /// Why a state directory with this mode and owner is refused (nil when it is fine): it must be a
    /// directory (not a symlink), owned by `user`, writable by no one else.
    static func ownershipProblem(mode: mode_t, owner: uid_t, user: uid_t) -> String? {
        if mode & S_IFMT != S_IFDIR { return "not a directory (a symlink or a file); use a real directory" }
        if owner != user {
            return "owned by uid \(owner), not by you (uid \(user)); the operator's state must be yours alone"
        }
        if mode & 0o022 != 0 {
            return
                "writable by others (mode \(String(mode & 0o777, radix: 8))); make it yours alone (chmod 700) or choose another CORTEX_HOME"
        }
        return nil
    }
}

/// A problem of the local operator or its CLI, with a message a user can act on.
public struct OperatorError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Files written whole or not at all: a temporary file in the same folder, flushed, then renamed over
/// the target, so a process killed at any moment leaves the old content or the new one.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            throw OperatorError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw OperatorError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
