import ChildProcesses
import CortexProject
import Foundation
import Logging
import NIOPosix

/// A ready Python environment: its interpreter and, for a virtualenv, where it lives.
public struct PythonEnvironment: Sendable, Equatable {
    public var directory: String
    public var python: String

    /// A virtualenv: its interpreter is `bin/python` inside it.
    public init(directory: String) {
        self.directory = directory
        self.python = directory + "/bin/python"
    }

    /// An interpreter used as it is (`--python-env` given a Python executable).
    public init(python: String) {
        self.directory = (python as NSString).deletingLastPathComponent
        self.python = python
    }
}

/// Why an environment could not be built; carries the installer's own error output.
public struct PythonEnvironmentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var output: String
    /// The exit status of the step that failed, when a step ran and exited non-zero.
    public var exitStatus: Int32? = nil
    /// The build stopped because its task was cancelled (SIGINT/SIGTERM during `serve`'s preparation).
    public var isCancellation: Bool = false
    public var description: String { output.isEmpty ? message : "\(message)\n\(output)" }

    static func cancelled(_ step: String) -> PythonEnvironmentError {
        PythonEnvironmentError(message: "interrupted while trying to \(step)", output: "", isCancellation: true)
    }
}

/// What a project adds to its environment besides `requirements.txt`: Cortex's two other setup
/// files, read from the project's root.
public struct ProjectSetup: Sendable, Equatable {
    /// `dependencies.sh`: run with bash before the requirements are installed.
    public var dependenciesScript: String?
    /// `conda-packages.txt`: one conda package spec per line.
    public var condaPackages: String?

    public init(dependenciesScript: String? = nil, condaPackages: String? = nil) {
        self.dependenciesScript = dependenciesScript
        self.condaPackages = condaPackages
    }

    /// The package lines of a `conda-packages.txt` (no blanks, no comments).
    public static func entries(of list: String) -> [Substring] {
        list.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces)[...] }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
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
            basePython ?? environment["CORTEX_PYTHON"] ?? ProcessRunner.findExecutable(
                "python3", environment: environment) ?? "/usr/bin/python3"
        self.logger = logger
    }

    static func defaultCacheRoot(_ environment: [String: String]) -> String {
        if let root = environment["CORTEX_CACHE_DIR"] { return root }
        let base = environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/cortex-swift"
    }

    /// The cache key of an environment: what is installed and which interpreter it is built on.
    public func key(runtimeRequirements: String, projectRequirements: String, setup: ProjectSetup = .init())
        -> String
    {
        var material = [
            "python=\(basePython)", Self.uvRequirement, "runtime:", runtimeRequirements, "project:",
            projectRequirements,
        ]
        // Only when present, so environments without them keep their keys.
        if let conda = setup.condaPackages { material += ["conda-packages.txt:", conda] }
        if let script = setup.dependenciesScript { material += ["dependencies.sh:", script] }
        return String(Digest.sha256Hex(material.joined(separator: "\n")).prefix(20))
    }

    /// Returns the environment for these requirements, building it first if it is not cached.
    /// `workingDirectory` is where relative paths inside `requirements.txt` resolve, and where
    /// `dependencies.sh` runs. As in Cortex, the order is: conda packages, `dependencies.sh`, then the
    /// requirements; each runs once per distinct content (it is part of the cache key).
    public func environment(
        runtimeRequirements: String, projectRequirements: String, setup: ProjectSetup = .init(),
        workingDirectory: String, label: String
    ) async throws(PythonEnvironmentError) -> PythonEnvironment {
        let key = key(runtimeRequirements: runtimeRequirements, projectRequirements: projectRequirements, setup: setup)
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
        var interpreter = basePython
        var venvOptions: [String] = []
        if let conda = setup.condaPackages, !ProjectSetup.entries(of: conda).isEmpty {
            // The conda packages live in a conda prefix whose Python the virtualenv is built on (with its
            // site-packages visible), so both kinds of packages import.
            interpreter = try await installCondaPackages(conda, into: environment.directory + "-conda", label: label)
            venvOptions = ["--system-site-packages"]
        }
        // A setup script may `pip install`: the environment then has its own pip (`--seed`).
        if setup.dependenciesScript != nil { venvOptions.append("--seed") }
        try await run(
            uv, ["venv", "--quiet", "--python", interpreter] + venvOptions + [environment.directory],
            step: "create the virtualenv")
        if let script = setup.dependenciesScript {
            try await runDependenciesScript(script, in: environment, workingDirectory: workingDirectory, label: label)
        }
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

    /// Runs `dependencies.sh` with bash in the project directory, the environment's `bin` first on
    /// `PATH` (so `pip` and `python` are the environment's: it is created with pip for this), its
    /// output shown as progress. A failure
    /// removes the half-built environment and names the script, its status and its output.
    private func runDependenciesScript(
        _ script: String, in environment: PythonEnvironment, workingDirectory: String, label: String
    ) async throws(PythonEnvironmentError) {
        logger.notice("running dependencies.sh for \(label)")
        let path = environment.directory + "/cortex-dependencies.sh"
        do {
            try script.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw PythonEnvironmentError(message: "cannot write \(path): \(error)", output: "")
        }
        var variables: [String: String] = [:]
        variables["VIRTUAL_ENV"] = environment.directory
        variables["PATH"] =
            environment.directory + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        do {
            try await run(
                "/bin/bash", [path], step: "run dependencies.sh", workingDirectory: workingDirectory,
                extraEnvironment: variables)
        } catch {
            await Self.removeItem(environment.directory)
            guard !error.isCancellation else { throw error }
            let status = error.exitStatus.map(String.init) ?? "?"
            throw PythonEnvironmentError(
                message:
                    "dependencies.sh of \(label) failed (exit status \(status)); fix it and start again. Its output:",
                output: error.output)
        }
    }

    /// Installers that read `conda-packages.txt`, in order of preference.
    static let condaInstallers = ["micromamba", "mamba", "conda"]

    /// Creates a conda prefix with the base interpreter's Python version and the listed packages;
    /// returns the prefix's Python. Without a conda installer on `PATH`, says so and what to do.
    private func installCondaPackages(_ list: String, into prefix: String, label: String)
        async throws(PythonEnvironmentError)
        -> String
    {
        let environment = ProcessInfo.processInfo.environment
        guard
            let installer = Self.condaInstallers.lazy.compactMap({
                ProcessRunner.findExecutable($0, environment: environment)
            }).first
        else {
            throw PythonEnvironmentError(
                message:
                    "conda-packages.txt of \(label) lists \(ProjectSetup.entries(of: list).count) conda package(s), but no conda installer (\(Self.condaInstallers.joined(separator: ", "))) is on PATH: install one (micromamba is a single binary), or move the packages to requirements.txt if PyPI has them",
                output: "")
        }
        let version = try await pythonVersion()
        let file = prefix + ".txt"
        await Self.removeItem(prefix)
        do {
            try (list + "\npython=\(version)\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw PythonEnvironmentError(message: "cannot write \(file): \(error)", output: "")
        }
        logger.notice("installing the conda packages of \(label) with \(installer)")
        try await run(
            installer, ["create", "--yes", "--prefix", prefix, "--file", file],
            step: "install conda-packages.txt of \(label)")
        return prefix + "/bin/python"
    }

    /// The base interpreter's `major.minor`.
    private func pythonVersion() async throws(PythonEnvironmentError) -> String {
        do {
            let result = try await ProcessRunner.run(
                basePython, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], onLine: { _ in })
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw PythonEnvironmentError(message: "cannot run \(basePython): \(error)", output: "")
        }
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
        _ executable: String, _ arguments: [String], step: String, workingDirectory: String? = nil,
        extraEnvironment: [String: String] = [:]
    ) async throws(PythonEnvironmentError) {
        var environment = ProcessInfo.processInfo.environment.merging(extraEnvironment) { _, new in new }
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
                output: result.output, exitStatus: result.status)
        }
    }
}
