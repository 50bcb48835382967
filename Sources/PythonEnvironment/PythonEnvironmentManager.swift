import ChildProcesses
import CortexProject
import Foundation
import Logging
import NIOPosix

/// A ready virtualenv: its interpreter and where it lives.
public struct PythonEnvironment: Sendable, Equatable {
    public var directory: String
    public var python: String { directory + "/bin/python" }
}

/// Why an environment could not be built; carries the installer's own error output.
public struct PythonEnvironmentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var output: String
    /// The build stopped because its task was cancelled (SIGINT/SIGTERM during `serve`'s preparation).
    public var isCancellation: Bool = false
    public var description: String { output.isEmpty ? message : "\(message)\n\(output)" }

    static func cancelled(_ step: String) -> PythonEnvironmentError {
        PythonEnvironmentError(message: "interrupted while trying to \(step)", output: "", isCancellation: true)
    }
}

/// Builds and caches one virtualenv per distinct set of requirements (the runtime's plus the
/// project's `requirements.txt`), keyed by a content hash, so a second start reuses it at once.
///
/// Installs with `uv` (from PyPI, bootstrapped once into the cache with the system Python's `venv`
/// and pip): it resolves and installs an order of magnitude faster than pip and keeps a shared wheel
/// cache, so each new environment is mostly hard links.
public struct PythonEnvironmentManager: Sendable {
    public var cacheRoot: String
    public var basePython: String
    public var logger: Logger
    static let uvRequirement = "uv==0.13.9"

    public init(cacheRoot: String? = nil, basePython: String? = nil, logger: Logger) {
        let environment = ProcessInfo.processInfo.environment
        self.cacheRoot = cacheRoot ?? Self.defaultCacheRoot(environment)
        self.basePython =
            basePython ?? environment["CORTEX_PYTHON"] ?? Self.findOnPath("python3", environment) ?? "/usr/bin/python3"
        self.logger = logger
    }

    static func defaultCacheRoot(_ environment: [String: String]) -> String {
        if let root = environment["CORTEX_CACHE_DIR"] { return root }
        let base = environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/cortex-swift"
    }

    static func findOnPath(_ name: String, _ environment: [String: String]) -> String? {
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The cache key of an environment: what is installed and which interpreter it is built on.
    public func key(runtimeRequirements: String, projectRequirements: String) -> String {
        let material = [
            "python=\(basePython)", Self.uvRequirement, "runtime:", runtimeRequirements, "project:",
            projectRequirements,
        ].joined(separator: "\n")
        return String(Digest.sha256Hex(material).prefix(20))
    }

    /// Returns the environment for these requirements, building it first if it is not cached.
    /// `workingDirectory` is where relative paths inside `requirements.txt` resolve.
    public func environment(
        runtimeRequirements: String, projectRequirements: String, workingDirectory: String, label: String
    ) async throws(PythonEnvironmentError) -> PythonEnvironment {
        let key = key(runtimeRequirements: runtimeRequirements, projectRequirements: projectRequirements)
        let environment = PythonEnvironment(directory: "\(cacheRoot)/envs/\(key)")
        let marker = environment.directory + "/.cortex-ready"
        if FileManager.default.fileExists(atPath: marker) { return environment }
        try makeDirectory("\(cacheRoot)/envs")
        let lock: FileLock
        do {
            lock = try await FileLock.acquire(path: "\(cacheRoot)/envs/\(key).lock")
        } catch let error as PythonEnvironmentError {
            throw error
        } catch {
            throw .cancelled("wait for another process building the environment of \(label)")
        }
        defer { lock.release() }
        if FileManager.default.fileExists(atPath: marker) { return environment }

        let started = ContinuousClock.now
        logger.notice("building the Python environment for \(label) (first start with these requirements)")
        let uv = try await bootstrapUV()
        await Self.removeItem(environment.directory)
        try await run(
            uv, ["venv", "--quiet", "--python", basePython, environment.directory], step: "create the virtualenv")
        let requirementsFile = environment.directory + "/cortex-requirements.txt"
        let combined = runtimeRequirements + "\n" + projectRequirements + "\n"
        do {
            try combined.write(toFile: requirementsFile, atomically: true, encoding: .utf8)
        } catch {
            throw PythonEnvironmentError(message: "cannot write \(requirementsFile): \(error)", output: "")
        }
        do {
            try await run(
                uv, ["pip", "install", "--python", environment.python, "-r", requirementsFile],
                step: "install the requirements of \(label)", workingDirectory: workingDirectory)
        } catch {
            await Self.removeItem(environment.directory)
            guard !error.isCancellation, let summary = InstallFailure.summary(of: error.output) else { throw error }
            throw PythonEnvironmentError(message: summary, output: "\(error.message):\n\(error.output)")
        }
        guard FileManager.default.createFile(atPath: marker, contents: Data()) else {
            throw PythonEnvironmentError(message: "cannot write \(marker)", output: "")
        }
        let seconds = (ContinuousClock.now - started).components.seconds
        logger.notice("Python environment for \(label) ready in \(seconds)s: \(environment.directory)")
        return environment
    }

    /// `uv` in its own small virtualenv inside the cache.
    private func bootstrapUV() async throws(PythonEnvironmentError) -> String {
        let tools = "\(cacheRoot)/tools/uv"
        let uv = tools + "/bin/uv"
        if FileManager.default.isExecutableFile(atPath: uv) { return uv }
        logger.notice("installing the environment installer (\(Self.uvRequirement)) into \(tools)")
        await Self.removeItem(tools)
        try await run(basePython, ["-m", "venv", tools], step: "create the installer's virtualenv")
        try await run(
            tools + "/bin/python",
            ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", Self.uvRequirement],
            step: "install \(Self.uvRequirement)")
        return uv
    }

    /// Removes a tree (a virtualenv: thousands of files) on SwiftNIO's blocking pool.
    static func removeItem(_ path: String) async {
        _ = try? await NIOThreadPool.singleton.runIfActive {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func makeDirectory(_ path: String) throws(PythonEnvironmentError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PythonEnvironmentError(message: "cannot create \(path): \(error)", output: "")
        }
    }

    /// Runs an installer step, showing its output as progress; on failure the error carries it.
    private func run(
        _ executable: String, _ arguments: [String], step: String, workingDirectory: String? = nil
    ) async throws(PythonEnvironmentError) {
        var environment = ProcessInfo.processInfo.environment
        environment["UV_CACHE_DIR"] = environment["UV_CACHE_DIR"] ?? "\(cacheRoot)/uv-cache"
        environment["UV_PYTHON_DOWNLOADS"] = "never"
        let logger = self.logger
        let result: ProcessResult
        do {
            result = try await ProcessRunner.run(
                executable, arguments, environment: environment, workingDirectory: workingDirectory,
                onLine: { logger.info("  | \($0)") })
        } catch is CancellationError {
            throw .cancelled(step)
        } catch {
            throw PythonEnvironmentError(message: "cannot \(step): cannot run \(executable): \(error)", output: "")
        }
        guard result.status == 0 else {
            throw PythonEnvironmentError(
                message:
                    "cannot \(step): `\(([executable] + arguments).joined(separator: " "))` exited with status \(result.status)",
                output: result.output)
        }
    }
}
