import Foundation
import Synchronization

/// Output of an installer step, split into lines as it arrives.
final class CollectedOutput: Sendable {
    private let state = Mutex<(pending: [UInt8], lines: [String])>(([], []))

    func append(_ data: Data) -> [String] {
        state.withLock { state in
            state.pending.append(contentsOf: data)
            var lines: [String] = []
            while let newline = state.pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: state.pending[..<newline], as: UTF8.self))
                state.pending.removeSubrange(...newline)
            }
            state.lines.append(contentsOf: lines)
            return lines
        }
    }

    var text: String {
        state.withLock { state in
            (state.lines + [String(decoding: state.pending, as: UTF8.self)]).joined(separator: "\n")
        }
    }
}

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
