import Foundation
import Synchronization

/// The last lines a worker printed, kept to explain a failed start.
struct OutputTail {
    private(set) var lines: [String] = []
    let limit = 50

    mutating func append(_ line: String) {
        lines.append(line)
        if lines.count > limit { lines.removeFirst(lines.count - limit) }
    }
}

/// Splits a byte stream into lines (for a worker's stdout and stderr).
final class LineSplitter: Sendable {
    private let pending = Mutex<[UInt8]>([])

    func append(_ data: Data) -> [String] {
        pending.withLock { pending in
            pending.append(contentsOf: data)
            var lines: [String] = []
            var start = 0
            for index in pending.indices where pending[index] == UInt8(ascii: "\n") {
                lines.append(String(decoding: pending[start..<index], as: UTF8.self))
                start = index + 1
            }
            pending.removeFirst(start)
            return lines
        }
    }

    func finish() -> [String] {
        pending.withLock { pending in
            defer { pending.removeAll() }
            return pending.isEmpty ? [] : [String(decoding: pending, as: UTF8.self)]
        }
    }
}
