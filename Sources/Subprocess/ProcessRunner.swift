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

/// Output split into lines as it arrives.
final class LineCollector: Sendable {
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

    /// The unterminated last line, if any.
    func finish() -> String? {
        state.withLock { state in
            guard !state.pending.isEmpty else { return nil }
            let line = String(decoding: state.pending, as: UTF8.self)
            state.pending.removeAll()
            state.lines.append(line)
            return line
        }
    }

    var text: String {
        state.withLock { $0.lines.joined(separator: "\n") }
    }
}
