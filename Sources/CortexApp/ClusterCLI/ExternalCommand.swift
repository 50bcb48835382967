import ChildProcesses
import Foundation

/// Runs the external tools the cluster commands drive (`kubectl`, `docker`/`podman`) to completion,
/// synchronously: the commands are one-shot CLI actions, not a server.
enum ExternalCommand {
    /// What a finished command printed and its exit status.
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// A tool could not be started at all.
    struct NotRunnable: Error, CustomStringConvertible {
        var executable: String
        var reason: String
        var description: String { "cannot run \(executable): \(reason)" }
    }

    /// The executable `name` names (a path, or the first of that name on `PATH`), or nil.
    static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String?
    {
        ProcessRunner.findExecutable(name, environment: environment)
    }

    /// Runs `executable` with `arguments`, `input` on its standard input, and captures its output.
    static func capture(_ executable: String, _ arguments: [String], input: String? = nil) throws(NotRunnable)
        -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        do {
            try process.run()
        } catch {
            throw NotRunnable(executable: executable, reason: "\(error)")
        }
        // Both streams (and the input) at once, so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        let collected = DataBox()
        DispatchQueue.global().async(group: group) {
            collected.set(err.fileHandleForReading.readDataToEndOfFile())
        }
        if let input {
            DispatchQueue.global().async(group: group) {
                try? inPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8))
                try? inPipe.fileHandleForWriting.close()
            }
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: collected.get(), as: UTF8.self))
    }

    /// Runs `executable` with this process's standard streams (its output goes straight to the
    /// terminal); returns its exit status.
    static func inheriting(_ executable: String, _ arguments: [String]) throws(NotRunnable) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        do {
            try process.run()
        } catch {
            throw NotRunnable(executable: executable, reason: "\(error)")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Data handed from the reading thread to the caller.
    private final class DataBox: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func set(_ value: Data) { lock.withLock { data = value } }
        func get() -> Data { lock.withLock { data } }
    }
}
