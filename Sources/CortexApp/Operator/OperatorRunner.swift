import CortexMetrics
import Foundation
import Logging
import NIOCore
import PythonEnvironment
import Server
import ServiceLifecycle
import WorkerProtocol
import Workers

/// Options of the local operator (`cortex operator`, started in the background by the CLI).
public struct OperatorOptions: Sendable {
    public var home: OperatorHome
    /// `CORTEX_HOST` (default 127.0.0.1) and `CORTEX_PORT` (default 8888): where every API answers.
    public var host: String
    public var port: Int
    public var grace: Double = 30
    public var drainDelay: Double = 1
    public var noWorkerTimeout: Double = 10
    /// `CORTEX_LOG_MAX_BYTES`: the size at which an API's log is rotated (default 64 MiB).
    public var logMaximumBytes = APILogFiles.defaultMaximumBytes

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(OperatorError) {
        home = OperatorHome.resolve(environment: environment)
        host = environment["CORTEX_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        let portText = environment["CORTEX_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "8888"
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw OperatorError("CORTEX_PORT must be a port number (0–65535), got \(portText)")
        }
        self.port = port
        if let text = environment["CORTEX_LOG_MAX_BYTES"], !text.isEmpty {
            guard let bytes = Int(text), bytes >= 4096 else {
                throw OperatorError("CORTEX_LOG_MAX_BYTES must be a number of bytes ≥ 4096, got \(text)")
            }
            logMaximumBytes = bytes
        }
    }
}

/// The local operator process: the front on `CORTEX_PORT` for every deployed API, the control socket,
/// and the deployments, until SIGTERM/SIGINT (then everything drains; the state stays on disk).
public enum OperatorRunner {
    /// Holds `operator.lock` for the process's life (with its pid inside): one operator per
    /// `CORTEX_HOME`. Returns false when another operator holds it.
    static func lock(_ home: OperatorHome) throws(OperatorError) -> Bool {
        let descriptor = open(home.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw OperatorError("cannot open \(home.lockFile): \(String(cString: strerror(errno)))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            close(descriptor)
            return false
        }
        // The holder's pid, for people and tests (the lock, not this number, is what counts).
        _ = ftruncate(descriptor, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return true  // kept open (and locked) until the process exits
    }

    public static func run(_ options: OperatorOptions, level: Logger.Level) async throws {
        umask(0o077)  // every file and socket the operator creates is the user's alone
        try options.home.prepare()
        guard try lock(options.home) else {
            FileHandle.standardError.write(Data("an operator already runs for \(options.home.path)\n".utf8))
            return
        }
        _ = try WorkerRuntime.directory()
        let apiLogs = APILogFiles(directory: options.home.logs, maximumBytes: options.logMaximumBytes)
        LoggingSystem.bootstrap { CortexLogHandler(label: $0, level: level, apiLogs: apiLogs) }
        let logger = Logger(label: "cortex-operator")
        let exporter = PrometheusExporter()
        exporter.bootstrap()
        let registry = APIRegistry(apis: [], logger: logger)
        let frontPort = PortPromise()
        let front = FrontServer(
            front: Front(
                registry: registry, requestIDs: RequestIDGenerator(), logger: logger,
                metricsExposition: exporter.exposition),
            host: options.host, port: options.port, limits: .init(), onBound: { frontPort.fulfil($0) }, logger: logger)
        let operatorService = OperatorService(
            home: options.home, registry: registry, environments: PythonEnvironmentManager(logger: logger),
            apiLogs: apiLogs, host: options.host, frontPort: frontPort, grace: options.grace,
            noWorkerTimeout: options.noWorkerTimeout, logger: logger)
        let services: [any Service] = [
            LogFlushService(apiLogs: apiLogs), operatorService, MetricsSampler(registry: registry), front,
            DrainService(registry: registry, drainDelay: options.drainDelay, logger: logger),
        ]
        logger.notice("operator starting for \(options.home.path) (pid \(getpid()))")
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw OperatorError(
                "cannot listen on \(options.host):\(options.port): the port is in use (set CORTEX_PORT to another port)"
            )
        }
    }
}
