import ArgumentParser
import CortexApp
import Foundation
import KubernetesManifests
import Logging
import NIOCore
import NIOPosix
import Server

/// Process entry: sizes SwiftNIO's event loops to the CPUs this process may run on, and makes them
/// Swift Concurrency's global executor, so request handling never hops between thread pools.
@main
enum Entry {
    static func main() async {
        NIOSingletons.groupLoopCountSuggestion = CPUAffinity.usableCores
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Cortex.main()
    }
}

/// The `cortex` command line.
struct Cortex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve Cortex predictors (cortex.yaml + predictor.py) as HTTP APIs.",
        subcommands: [
            Serve.self, Validate.self, Deploy.self, Get.self, Logs.self, Delete.self, Refresh.self, Cluster.self,
            OperatorCommand.self,
        ])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve every API of a cortex.yaml from this process until SIGINT/SIGTERM.")

    @Argument(help: "A project directory or a config file (default: ./cortex.yaml).")
    var path: String?

    @Option(help: "The port of the front (0 picks a free one).")
    var port: Int = 8888

    @Option(help: "The address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Seconds a graceful stop may take before workers are killed.")
    var grace: Double = 30

    @Option(help: "Seconds between /readyz turning 503 and the listeners closing, on SIGTERM/SIGINT.")
    var drainDelay: Double = 1

    @Option(help: "Seconds a client may take to send a request's headers.")
    var headerTimeout: Double = 10

    @Option(help: "Seconds a client may take to send a request's body.")
    var bodyTimeout: Double = 60

    @Option(help: "Seconds an idle keep-alive connection stays open.")
    var keepAliveTimeout: Double = 75

    @Option(
        help:
            "Seconds a request may wait while no worker of its API is alive (all down or restarting) before it gets 503."
    )
    var noWorkerTimeout: Double = 10

    @Option(name: .customLong("api"), help: "Serve only this API of the file (repeatable; default: every API).")
    var apis: [String] = []

    @Option(
        name: .customLong("python-env"),
        help:
            "Serve with this existing Python environment (a virtualenv directory or a Python executable) as it is: nothing is installed; the runtime's own modules are checked."
    )
    var pythonEnv: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["CORTEX_LOG_LEVEL"] ?? "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { CortexLogHandler(label: $0, level: level) }
        let logger = Logger(label: "cortex")
        do {
            let options = ServeOptions(
                path: path, host: host, port: port, grace: grace,
                readLimits: .init(
                    headerTimeout: headerTimeout, bodyTimeout: bodyTimeout, idleTimeout: keepAliveTimeout),
                drainDelay: drainDelay, noWorkerTimeout: noWorkerTimeout, pythonEnvironment: pythonEnv
            )
            var serveOptions = options
            serveOptions.onlyAPIs = apis
            try await ServeRunner.run(serveOptions, logger: logger)
        } catch {
            LogWriter.standardError.flush()
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a cortex.yaml and its project; print the resolved specs or the errors.")

    @Argument(help: "A project directory or a config file (default: ./cortex.yaml).")
    var path: String?

    func run() throws {
        try CommandFailure.reportingSynchronously {
            let project = try PreparedProject.load(path: path)
            for warning in project.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            print(try project.resolvedSpecsJSON())
        }
    }
}

/// How many CPUs the affinity mask allows (`taskset`, cgroup cpusets), at least 1.
enum CPUAffinity {
    static var usableCores: Int {
        // /proc/self/status has "Cpus_allowed:\tff,ffffffff": a hex mask of the CPUs we may use.
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return ProcessInfo.processInfo.activeProcessorCount }
        let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
            count + (character.hexDigitValue?.nonzeroBitCount ?? 0)
        }
        return max(1, min(count, ProcessInfo.processInfo.activeProcessorCount))
    }
}
