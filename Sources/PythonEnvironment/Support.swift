import Foundation
import Synchronization

/// An exclusive `flock` on a file, so two starts never build the same environment at once.
struct FileLock {
    let descriptor: Int32

    init(path: String) throws(PythonEnvironmentError) {
        descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else {
            throw PythonEnvironmentError(message: "cannot open lock file \(path): errno \(errno)", output: "")
        }
        flock(descriptor, LOCK_EX)
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
