import Foundation

/// The last lines a worker printed, kept to explain a failed start.
struct OutputTail {
    private(set) var lines: [String] = []
    let limit = 50

    mutating func append(_ line: String) {
        lines.append(line)
        if lines.count > limit { lines.removeFirst(lines.count - limit) }
    }
}
