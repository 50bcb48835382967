import Foundation
import Synchronization

/// The outcome of a finished child process.
public struct ProcessResult: Sendable {
    public var status: Int32
    /// stdout and stderr, interleaved as they arrived.
    public var output: String
}

/// Runs a child process to completion without blocking a thread, reading its output as it comes (so a
/// chatty child never stalls on a full pipe), optionally handing each line to `onLine` as progress.
public enum ProcessRunner {
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, onLine: (@Sendable (String) -> Void)? = nil
    ) async throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let collected = LineCollector()
        let drained = DispatchSemaphore(value: 0)
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                drained.signal()
                return
            }
            for line in collected.append(data) { onLine?(line) }
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                // The pipe reaches end-of-file once every writer (the child and its children) is gone.
                _ = drained.wait(timeout: .now() + 5)
                continuation.resume(returning: process.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                pipe.fileHandleForReading.readabilityHandler = nil
                continuation.resume(throwing: error)
            }
        }
        if let rest = collected.finish() { onLine?(rest) }
        return ProcessResult(status: status, output: collected.text)
    }
}

/// Splits a byte stream into lines as it arrives (child process output).
public final class LineSplitter: Sendable {
    private let pending = Mutex<[UInt8]>([])

    public init() {}

    /// The lines completed by `data`.
    public func append(_ data: Data) -> [String] {
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

    /// The unterminated last line, if any.
    public func finish() -> String? {
        pending.withLock { pending in
            defer { pending.removeAll() }
            return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
        }
    }
}

/// Every line of a child's output, kept for its result.
final class LineCollector: Sendable {
    private let splitter = LineSplitter()
    private let lines = Mutex<[String]>([])

    func append(_ data: Data) -> [String] {
        let new = splitter.append(data)
        lines.withLock { $0.append(contentsOf: new) }
        return new
    }

    func finish() -> String? {
        let last = splitter.finish()
        if let last { lines.withLock { $0.append(last) } }
        return last
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}
