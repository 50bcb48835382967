import Foundation
import NIOPosix

/// An exclusive `flock` on a file, so two starts never build the same environment at once.
///
/// Waiting for it may take minutes (another process building the same environment), so it never
/// blocks a thread: `flock` has no asynchronous form, and a blocking `flock` would pin a thread of
/// whichever pool ran it (the event loops are Swift's global executor in the binary; SwiftNIO's
/// blocking pool has a thread per core) and could not be cancelled. Instead each try is a
/// non-blocking `LOCK_NB` on SwiftNIO's blocking pool, and the wait between tries is a `Task.sleep`,
/// so cancelling the waiting task (SIGINT during `serve`'s preparation) ends the wait at once.
struct FileLock: Sendable {
    let descriptor: Int32

    /// How long to wait between two tries while another process holds the lock.
    static let retryInterval: Duration = .milliseconds(100)

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Waits until the lock is ours. Throws `CancellationError` if the task is cancelled first.
    static func acquire(path: String) async throws -> FileLock {
        let descriptor = try await NIOThreadPool.singleton.runIfActive { () throws(PythonEnvironmentError) -> Int32 in
            let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw PythonEnvironmentError(
                    message: "cannot open lock file \(path): \(String(cString: strerror(errno)))", output: "")
            }
            return descriptor
        }
        do {
            while true {
                let locked = try await NIOThreadPool.singleton.runIfActive { () throws(PythonEnvironmentError) -> Bool in
                    while true {
                        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
                        switch errno {
                        case EWOULDBLOCK: return false
                        case EINTR: continue
                        default:
                            throw PythonEnvironmentError(
                                message: "cannot lock \(path): \(String(cString: strerror(errno)))", output: "")
                        }
                    }
                }
                if locked { return FileLock(descriptor: descriptor) }
                try await Task.sleep(for: retryInterval)
            }
        } catch {
            close(descriptor)
            throw error
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
