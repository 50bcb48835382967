import CortexConfig
import CortexMetrics
import CortexProject
import Foundation
import Logging
import ModelRepository
import NIOCore
import PythonEnvironment
import Scheduling
import Server
import ServiceLifecycle
import Synchronization
import UnixSignals
import WorkerProtocol
import Workers

/// Options of `cortex serve`.
public struct ServeOptions: Sendable {
    public var path: String?
    public var host: String
    public var port: Int
    /// How long a graceful stop may take before workers are killed.
    public var grace: Double
    /// Deadlines for reading requests (slow clients).
    public var readLimits: ReadDeadlineStateMachine.Limits
    /// Seconds between `/readyz` turning 503 and the listeners closing, on a graceful stop.
    public var drainDelay: Double
    /// Seconds a request may wait while no worker of its API is alive before it gets 503.
    public var noWorkerTimeout: Double
    /// An existing Python environment (virtualenv or interpreter) to serve with, as it is.
    public var pythonEnvironment: String?
    /// Serve only these APIs of the file (all when empty): a pod on Kubernetes runs one.
    public var onlyAPIs: [String] = []

    public init(
        path: String?, host: String, port: Int, grace: Double,
        readLimits: ReadDeadlineStateMachine.Limits = .init(), drainDelay: Double = 1, noWorkerTimeout: Double = 10,
        pythonEnvironment: String? = nil
    ) {
        self.pythonEnvironment = pythonEnvironment
        self.noWorkerTimeout = noWorkerTimeout
        self.drainDelay = drainDelay
        self.path = path
        self.host = host
        self.port = port
        self.grace = grace
        self.readLimits = readLimits
    }
}

/// `cortex serve`: prepares the project and its Python environments, then runs the HTTP front and
/// the workers of every API until SIGINT/SIGTERM, stopping gracefully.
public enum ServeRunner {
    public static func run(_ options: ServeOptions, logger: Logger) async throws {
        // Without its Python runtime (a binary copied alone) nothing can serve: say so before any work.
        _ = try WorkerRuntime.directory()
        let project = try selected(PreparedProject.load(path: options.path), options.onlyAPIs)
        let exporter = PrometheusExporter()
        exporter.bootstrap()
        for warning in project.warnings { logger.warning("\(warning)") }
        let stagedRoot = try project.stage()
        defer { try? FileManager.default.removeItem(atPath: stagedRoot) }

        let manager = PythonEnvironmentManager(logger: logger)
        // Building environments can take minutes and runs before the service group (and its signal
        // handling) starts: SIGINT/SIGTERM now cancel it, which stops the installer and its builds.
        let pythons = try await cancellingOnSignals(logger: logger) { () async throws -> [String: String] in
            var pythons: [String: String] = [:]
            if let existing = options.pythonEnvironment {
                // An environment cortex built (`cluster build`'s image) lists what it installed there.
                let installed = FileManager.default.fileExists(atPath: existing + "/cortex-image-requirements.txt")
                if !installed && (!project.requirements.isEmpty || project.setup != ProjectSetup()) {
                    logger.warning(
                        "--python-env: the project's requirements.txt, dependencies.sh and conda-packages.txt are not installed; \(existing) is used as it is"
                    )
                }
                // Checked once per distinct set of runtime needs, not once per API.
                var checked: [String: String] = [:]
                for api in project.apis {
                    let runtime = WorkerRuntime.requirements(
                        for: api.predictor.type.rawValue, s3: ModelWatcher.usesS3(api))
                    if checked[runtime] == nil {
                        checked[runtime] = try await ExistingEnvironment.use(existing, runtimeRequirements: runtime)
                            .python
                    }
                    pythons[api.name] = checked[runtime]
                }
                return pythons
            }
            for api in project.apis {
                let environment = try await manager.environment(
                    runtimeRequirements: WorkerRuntime.requirements(
                        for: api.predictor.type.rawValue, s3: ModelWatcher.usesS3(api)),
                    projectRequirements: project.requirements, setup: project.setup, workingDirectory: project.root,
                    label: "api \(api.name)")
                pythons[api.name] = environment.python
            }
            return pythons
        }

        let gpus = GPUAssignment.plan(
            requests: project.apis.map { ($0.name, $0.compute.gpu) },
            available: GPUAssignment.visibleDevices(
                cudaVisibleDevices: ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"],
                driverCount: nvidiaDriverDeviceCount()))
        for warning in gpus.warnings { logger.warning("\(warning)") }
        let registry = APIRegistry(
            apis: project.apis.map {
                ServedAPI(
                    name: $0.name, endpoint: $0.networking.endpoint, maxRequestSize: $0.networking.maxRequestSize,
                    timeout: $0.predictor.timeout)
            })
        let requestIDs = RequestIDGenerator()
        let runtimeDirectory = try makeRuntimeDirectory()
        defer { try? FileManager.default.removeItem(atPath: runtimeDirectory) }
        let frontPort = PortPromise()

        let mainApp = FrontServer(
            front: Front(
                registry: registry, requestIDs: requestIDs, logger: logger, metricsExposition: exporter.exposition),
            host: options.host, port: options.port, limits: options.readLimits,
            onBound: { port in frontPort.fulfil(port) }, logger: logger)
        var services: [any Service] = [LogFlushService()]
        let pools = PoolsService(
            project: project, stagedRoot: stagedRoot, pythons: pythons, registry: registry, host: options.host,
            frontPort: frontPort, runtimeDirectory: runtimeDirectory, grace: options.grace,
            noWorkerTimeout: options.noWorkerTimeout, cacheDirectory: manager.cacheRoot, gpuDevices: gpus.devices,
            logger: logger)
        services.append(pools)
        services.append(MetricsSampler(registry: registry))
        services.append(mainApp)
        for api in project.apis {
            guard let localPort = api.networking.localPort else { continue }
            services.append(
                FrontServer(
                    front: Front(
                        dedicatedTo: api.name, registry: registry, requestIDs: requestIDs,
                        logger: logger, metricsExposition: exporter.exposition),
                    host: options.host, port: localPort, limits: options.readLimits, logger: logger))
        }
        services.append(DrainService(registry: registry, drainDelay: options.drainDelay, logger: logger))
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            let ports = ([options.port] + project.apis.compactMap(\.networking.localPort)).map(String.init)
            throw PreparedProject.Problems(lines: [
                "cannot listen on \(options.host): a port is already in use (ports \(ports.joined(separator: ", ")); \(error))"
            ])
        }
    }

    /// The project with only the named APIs (all when `names` is empty); an unknown name is an error
    /// listing the file's APIs.
    static func selected(_ project: PreparedProject, _ names: [String]) throws -> PreparedProject {
        guard !names.isEmpty else { return project }
        let unknown = names.filter { name in !project.apis.contains { $0.name == name } }
        guard unknown.isEmpty else {
            throw PreparedProject.Problems(lines: [
                "\(project.configFile): no api named \(unknown.joined(separator: ", ")) (its APIs: \(project.apis.map(\.name).joined(separator: ", ")))"
            ])
        }
        var project = project
        project.apis = project.apis.filter { names.contains($0.name) }
        return project
    }

    /// Runs `body` until it finishes, or until SIGINT or SIGTERM arrives: then `body`'s task is
    /// cancelled, awaited (child processes get SIGTERM, then SIGKILL), and `Interrupted` is thrown.
    static func cancellingOnSignals<Value: Sendable>(
        logger: Logger, _ body: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                for await signal in signals {
                    logger.notice("\(signal) received: stopping the preparation")
                    throw Interrupted(signal: "\(signal)")
                }
                return nil  // cancelled: the body finished first
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
            }
            throw CancellationError()
        }
    }

    /// SIGINT/SIGTERM arrived before serving started.
    struct Interrupted: Error, CustomStringConvertible {
        var signal: String
        var description: String { "interrupted by \(signal) while preparing to serve" }
    }

    /// GPUs the NVIDIA driver reports (one folder each under /proc/driver/nvidia/gpus); 0 without one.
    static func nvidiaDriverDeviceCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/driver/nvidia/gpus"))?.count ?? 0
    }

    static func makeRuntimeDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "cortex-XXXXXX").utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw PreparedProject.Problems(lines: ["cannot create a runtime directory in \(NSTemporaryDirectory())"])
        }
        return String(cString: pointer)
    }
}

/// The port the front actually listens on (known once it is bound; `--port 0` picks a free one).
/// Waiting for it is cancellable: if the front cannot bind, the service group cancels the waiters.
final class PortPromise: Sendable {
    private let port = Mutex<Int?>(nil)
    private let bound = Latch()

    func fulfil(_ port: Int) {
        self.port.withLock { $0 = port }
        bound.open()
    }

    var value: Int {
        get async throws {
            await bound.wait()
            guard let port = port.withLock({ $0 }) else { throw CancellationError() }
            return port
        }
    }
}

/// Runs every API's worker pool (and model watcher) once the front is listening, announces the APIs
/// once every worker is ready, and — being first in the service group — is the last to stop: its
/// pools drain (workers finish what they hold and their `post_predict` calls) after the HTTP servers
/// have finished their in-flight requests.
struct PoolsService: Service {
    let project: PreparedProject
    let stagedRoot: String
    let pythons: [String: String]
    let registry: APIRegistry
    let host: String
    let frontPort: PortPromise
    let runtimeDirectory: String
    let grace: Double
    let noWorkerTimeout: Double
    let cacheDirectory: String
    /// `CUDA_VISIBLE_DEVICES` of each API that asked for GPUs (`GPUAssignment`).
    let gpuDevices: [String: [String]]
    let logger: Logger

    func run() async throws {
        let port = try await frontPort.value
        var watchers: [ModelWatchService] = []
        var pools: [WorkerPool] = []
        for api in project.apis {
            let pool = WorkerPool(
                configuration: WorkerPoolConfiguration(
                    api: api, project: project, stagedRoot: stagedRoot, python: pythons[api.name]!, frontHost: host,
                    frontPort: port, grace: grace, noWorkerTimeout: noWorkerTimeout, cacheDirectory: cacheDirectory,
                    gpuDevices: gpuDevices[api.name]),
                socketPath: "\(runtimeDirectory)/\(api.name).sock", logger: logger)
            pools.append(pool)
            registry.attach(pool, to: api.name)
            if let watcher = ModelWatcher(
                api: api, projectRoot: project.root, cacheRoot: cacheDirectory, python: pythons[api.name]!,
                logger: logger)
            {
                let catalog = try await watcher.scan()
                logger.info("models: \(ModelWatcher.describe(catalog))", metadata: ["api": .string(api.name)])
                let service = ModelWatchService(watcher: watcher, initial: catalog, pool: pool, registry: registry)
                service.publish(catalog)
                watchers.append(service)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for pool in pools { group.addTask { try await pool.run() } }
            for pool in pools { try await pool.waitUntilReady() }
            let shownHost = host == "0.0.0.0" ? "127.0.0.1" : host
            for api in project.apis {
                var line = "api \(api.name) is live at http://\(shownHost):\(port)\(api.networking.endpoint)"
                if let localPort = api.networking.localPort { line += " and http://\(shownHost):\(localPort)/" }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
            for watcher in watchers { group.addTask { try await watcher.run() } }
            try await group.waitForAll()
        }
    }
}

/// Polls an API's model sources for new, changed and removed versions until a graceful shutdown, and
/// publishes each change to the API's workers and summary.
struct ModelWatchService: Service {
    let watcher: ModelWatcher
    let initial: ModelCatalog
    let pool: WorkerPool
    let registry: APIRegistry

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await watcher.watch(from: initial) { publish($0) }
        }
    }

    func publish(_ catalog: ModelCatalog) {
        pool.updateModels(catalog.frameJSON)
        registry.setModelMetadata(catalog.summaryJSON, for: watcher.api.name)
    }
}

/// Flips `/readyz` to 503 the moment a graceful shutdown begins (it is the first service stopped).
/// Then, for `drainDelay`, keeps accepting requests while `/readyz` reports 503, so load balancers
/// and probes see the replica leave before its listeners close.
struct DrainService: Service {
    let registry: APIRegistry
    let drainDelay: Double
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        registry.beginDraining()
        logger.notice("shutting down: /readyz answers 503; closing the listeners in \(drainDelay)s")
        try? await Task.sleep(for: .milliseconds(Int64(drainDelay * 1000)))
        logger.notice("shutting down: finishing in-flight requests")
    }
}
