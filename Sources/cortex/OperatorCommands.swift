import ArgumentParser
import CortexApp
import Foundation
import Logging

/// Options every operating command shares: where it acts.
struct TargetEnvironment: ParsableArguments {
    @Option(
        name: .customLong("env"),
        help:
            "Act on this environment of $CORTEX_HOME/environments.yaml (a Kubernetes cluster); default: the local operator."
    )
    var environment: String?

    /// The cluster environment named, or nil for the local operator (`--env local` is the local one too).
    var cluster: String? { environment == nil || environment == "local" ? nil : environment }

    /// Runs the command against the cluster environment named, or the local operator; reports a
    /// failure as `error: …` and exits 1.
    func run(cluster onCluster: (String) throws -> Void, local: () async throws -> Void) async throws {
        try await CommandFailure.reporting {
            if let cluster { try onCluster(cluster) } else { try await local() }
        }
    }
}

/// `cortex deploy`: sends a project's APIs to the local operator (or a cluster with `--env`).
struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deploy every API of a cortex.yaml: to the local operator, or to a cluster with --env.")

    @Argument(help: "A project directory or a config file (default: ./cortex.yaml).")
    var path: String?

    @Flag(help: "Wait until the APIs are live, showing progress.")
    var wait = false

    @Flag(help: "With --env: print the objects that would be applied, and apply nothing.")
    var dryRun = false

    @OptionGroup var target: TargetEnvironment

    func run() async throws {
        try await target.run(
            cluster: { try ClusterCLI.deploy(path: path, environment: $0, dryRun: dryRun, wait: wait) },
            local: { try await OperatorCLI.deploy(path: path, wait: wait) })
    }
}

/// `cortex get`: the deployed APIs and their status.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the deployed APIs, or one API in detail.")

    @Argument(help: "One API's name (default: every API).")
    var name: String?

    @Option(name: .shortAndLong, help: "Output format: table (default) or json.")
    var output: String = "table"

    @OptionGroup var target: TargetEnvironment

    func run() async throws {
        guard output == "table" || output == "json" else {
            throw ValidationError("-o must be table or json, got \(output)")
        }
        try await target.run(
            cluster: { try ClusterCLI.get(name: name, json: output == "json", environment: $0) },
            local: { try await OperatorCLI.get(name: name, json: output == "json") })
    }
}

/// `cortex logs`: follows one API's log.
struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow an API's log until interrupted.")

    @Argument(help: "The API's name.")
    var name: String

    @Option(help: "Start with the last N lines (default: 100 when following).")
    var tail: Int?

    @Flag(help: "Print the log and exit instead of following it.")
    var noFollow = false

    @OptionGroup var target: TargetEnvironment

    func run() async throws {
        try await target.run(
            cluster: { try ClusterCLI.logs(name: name, tail: tail, follow: !noFollow, environment: $0) },
            local: { try await OperatorCLI.logs(name: name, tail: tail, follow: !noFollow) })
    }
}

/// `cortex delete`: drains and removes an API.
struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain an API (accepted requests finish), stop its workers and remove it.")

    @Argument(help: "The API's name.")
    var name: String

    @OptionGroup var target: TargetEnvironment

    func run() async throws {
        try await target.run(
            cluster: { try ClusterCLI.delete(name: name, environment: $0) },
            local: { try await OperatorCLI.delete(name: name) })
    }
}

/// `cortex refresh`: restarts an API's replicas as a rolling update, without a config change.
struct Refresh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart an API's replicas as a rolling update (update_strategy), without a config change.")

    @Argument(help: "The API's name.")
    var name: String

    @OptionGroup var target: TargetEnvironment

    func run() async throws {
        try await target.run(
            cluster: { try ClusterCLI.refresh(name: name, environment: $0) },
            local: { try await OperatorCLI.refresh(name: name) })
    }
}

/// `cortex operator`: the local operator itself, which the other commands start in the background.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract:
            "Run the local operator in the foreground (deploy, get, logs, delete and refresh start it in the background when none runs). CORTEX_HOME, CORTEX_PORT and CORTEX_HOST configure it."
    )

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["CORTEX_LOG_LEVEL"] ?? "info"

    func run() async throws {
        try await CommandFailure.reporting {
            try await OperatorRunner.run(try OperatorOptions(), level: Logger.Level(rawValue: logLevel) ?? .info)
        }
    }
}

/// Prints a command's failure as `error: …` (validation problems as `validate` prints them) and exits 1.
enum CommandFailure {
    static func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            throw report(error)
        }
    }

    static func reportingSynchronously(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            throw report(error)
        }
    }

    private static func report(_ error: any Error) -> ExitCode {
        if let exit = error as? ExitCode { return exit }
        let text = (error as? PreparedProject.Problems)?.description ?? "error: \(error)"
        FileHandle.standardError.write(Data((text + "\n").utf8))
        return ExitCode.failure
    }
}
