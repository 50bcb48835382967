import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The outcome of a finished child process.
public struct ProcessResult: Sendable {
    /// The exit status; for a child ended by a signal, 128 + the signal number (as a shell reports it).
    public var status: Int32
    /// stdout and stderr, interleaved as they arrived.
    public var output: String
}

/// Runs a child process to completion without blocking a thread (swift-subprocess: the child's exit
/// and its output are awaited, never waited for on a thread), reading its output as it comes (so a
/// chatty child never stalls on a full pipe), optionally handing each line to `onLine` as progress.
///
/// Cancelling the calling task stops the child: it runs in a session of its own, so its whole process
/// group (an installer and the builds it starts) gets SIGTERM, then SIGKILL after `terminationGrace`;
/// `run` then throws `CancellationError`.
public enum ProcessRunner {
    /// How long a cancelled child has between SIGTERM and SIGKILL.
    public static let terminationGrace: Duration = .seconds(2)

    /// The executable `name` names: itself when it holds a `/` (and is executable), else the first one
    /// of that name on `PATH`; nil when there is none.
    public static func findExecutable(_ name: String, environment: [String: String]) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// - Parameter onStart: called with the child's process id once it is running.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, onStart: (@Sendable (pid_t) -> Void)? = nil,
        onLine: (@Sendable (String) -> Void)? = nil
    ) async throws -> ProcessResult {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: terminationGrace)
        ]
        let subprocessEnvironment: Subprocess.Environment =
            environment.map { values in
                .custom(
                    Dictionary(
                        uniqueKeysWithValues: values.map { (Subprocess.Environment.Key(rawValue: $0.key)!, $0.value) }))
            } ?? .inherit
        let group = Mutex<pid_t?>(nil)
        /// SIGTERM went to the whole group but only the leader is waited for: whatever of the group
        /// outlived it (a build that ignores SIGTERM) is killed.
        func killGroupLeftovers() {
            if let pid = group.withLock({ $0 }) { kill(-pid, SIGKILL) }
        }
        let collected = LineCollector()
        let outcome: ExecutionResult<Void, SequenceOutput, CombinedErrorOutput>
        do {
            outcome = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), environment: subprocessEnvironment,
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options, input: .none,
                output: .sequence, error: .combinedWithOutput
            ) { execution in
                let pid = execution.processIdentifier.value
                group.withLock { $0 = pid }
                onStart?(pid)
                for try await buffer in execution.standardOutput {
                    let lines = buffer.withUnsafeBytes { collected.append(Array($0)) }
                    for line in lines { onLine?(line) }
                }
            }
        } catch {
            killGroupLeftovers()
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
        if let rest = collected.finish() { onLine?(rest) }
        if Task.isCancelled {
            killGroupLeftovers()
            throw CancellationError()
        }
        let status: Int32
        switch outcome.terminationStatus {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return ProcessResult(status: status, output: collected.text)
    }
}

/// Splits a byte stream into lines as it arrives (child process output).
public final class LineSplitter: Sendable {
    private let pending = Mutex<[UInt8]>([])

    public init() {}

    /// The lines completed by `data`.
    public func append(_ data: Data) -> [String] {
        append([UInt8](data))
    }

    /// The lines completed by `bytes`.
    public func append(_ bytes: [UInt8]) -> [String] {
        pending.withLock { pending in
            pending.append(contentsOf: bytes)
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

    func append(_ bytes: [UInt8]) -> [String] {
        let new = splitter.append(bytes)
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
