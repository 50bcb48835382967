import CortexConfig
import CortexMetrics
import Foundation
import KubernetesManifests
import Logging
import Metrics
import ModelRepository
import PythonEnvironment
import Scheduling
import Server
import Synchronization
import Workers

/// What every deployment of one operator shares.
final class OperatorContext: Sendable {
    let home: OperatorHome
    let store: DeploymentStore
    let registry: APIRegistry
    let environments: PythonEnvironmentManager
    let apiLogs: APILogFiles
    let host: String
    let port: Int
    let grace: Double
    let noWorkerTimeout: Double
    let logger: Logger
    private let sockets = Atomic<Int>(0)
    /// The GPUs replicas take (`compute.gpu`) and give back.
    let gpus: Mutex<GPULedger>

    /// Devices for a new replica of `api` (none unless it asks for GPUs); a warning is logged when they
    /// cannot be its own.
    func takeGPUs(for api: APISpec) -> [String] {
        let (devices, warning) = gpus.withLock { $0.take(api.compute.gpu, for: api.name) }
        if let warning { logger.warning("\(warning)", metadata: ["api": .string(api.name)]) }
        return devices
    }

    init(
        home: OperatorHome, registry: APIRegistry, environments: PythonEnvironmentManager, apiLogs: APILogFiles,
        host: String, port: Int, grace: Double, noWorkerTimeout: Double, logger: Logger
    ) {
        self.home = home
        self.store = DeploymentStore(home: home)
        self.registry = registry
        self.environments = environments
        self.apiLogs = apiLogs
        self.host = host
        self.port = port
        self.grace = grace
        self.noWorkerTimeout = noWorkerTimeout
        self.logger = logger
        self.gpus = Mutex(
            GPULedger(
                devices: GPUAssignment.visibleDevices(
                    cudaVisibleDevices: ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"],
                    driverCount: ServeRunner.nvidiaDriverDeviceCount())))
    }

    /// A fresh, short worker socket path (Unix socket paths are limited to 107 bytes).
    func nextSocketPath() -> String {
        "\(home.run)/\(getpid())-\(sockets.add(1, ordering: .relaxed).newValue).sock"
    }
}

/// One API in the operator: builds its environment, runs its replicas (each a `WorkerPool`), scales
/// them with the `Autoscaler`, rolls them over to a new version following `update_strategy`, and
/// drains them when it is deleted. One control loop per API owns the replicas; `deploy`, `refresh`
/// and `delete` hand it a new target and wake it.
final class APIDeployment: Sendable {
    /// One version of the API: what its replicas run.
    struct Version: Sendable {
        var record: DeployedAPI
        var project: PreparedProject
        var api: APISpec { project.apis.first { $0.name == record.name }! }
        var root: String
    }

    /// What `get` and `deploy --wait` read.
    struct Observed: Sendable {
        var code: CortexStatusCode = .updating
        var message: String?
        var upToDate = 0
        var stale = 0
        var desired = 0
        /// The generation that is live (every replica up to date and ready), or failed.
        var settledGeneration: Int?
        var failedGeneration: Int?
    }

    private final class Replica: Sendable {
        let pool: WorkerPool
        let generation: Int
        let task: Task<Void, any Error>
        init(pool: WorkerPool, generation: Int, task: Task<Void, any Error>) {
            self.pool = pool
            self.generation = generation
            self.task = task
        }
    }

    let name: String
    let context: OperatorContext
    private let target: Mutex<Version>
    private let observed = Mutex(Observed())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let watchers = Mutex<[UUID: AsyncStream<String>.Continuation]>([:])
    private let loop = Mutex<Task<Void, Never>?>(nil)
    private let demandSince = Mutex<ContinuousClock.Instant?>(nil)
    private let modelState = Mutex(ModelState())
    private let replicaGauge: Gauge
    private let coldStarts: Timer

    init(version: Version, context: OperatorContext) {
        self.name = version.record.name
        self.context = context
        self.target = Mutex(version)
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        replicaGauge = Gauge(label: MetricNames.replicasDesired, dimensions: [("api", version.record.name)])
        coldStarts = Timer(label: MetricNames.coldStart, dimensions: [("api", version.record.name)])
    }

    // MARK: Commands

    /// Starts the control loop (once).
    func start() {
        register(target.withLock { $0 })
        loop.withLock { task in
            guard task == nil else { return }
            task = Task { await self.control() }
        }
    }

    /// A new version (a changed deploy, or a refresh): the replicas roll over to it.
    func update(to version: Version) {
        target.withLock { $0 = version }
        observed.withLock {
            $0.code = .updating
            $0.message = nil
        }
        register(version)
        wake.yield()
    }

    var record: DeployedAPI { target.withLock { $0.record } }
    var spec: APISpec { target.withLock { $0.api } }

    /// Stops taking requests (the endpoint answers 404 at once), lets the replicas finish what they
    /// hold, and returns once every worker has exited.
    func delete() async {
        context.registry.remove(name)
        await stop()
        replicaGauge.record(0)
    }

    /// The operator stops: drains every replica; the API stays recorded (and routed until the front closes).
    func stop() async {
        let task = loop.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    /// Progress lines from now on (deploy --wait), until `stopWatching`.
    func watch() -> (UUID, AsyncStream<String>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        watchers.withLock { $0[id] = continuation }
        return (id, stream)
    }

    func stopWatching(_ id: UUID) {
        watchers.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// Reports progress to `deploy --wait` and the API's log.
    private func progress(_ message: String) {
        context.logger.notice("\(message)", metadata: ["api": .string(name)])
        for watcher in watchers.withLock({ Array($0.values) }) { watcher.yield(message) }
    }

    var state: Observed { observed.withLock { $0 } }

    /// The API's status as `cortex get` shows it.
    func status() -> APIStatus {
        let version = target.withLock { $0 }
        let seen = state
        let totals = context.registry.apis[name]?.metrics.totals
        var answers: [String: Int] = [:]
        for (statusClass, count) in totals?.byClass ?? [:] where statusClass >= 2 {
            answers["\(statusClass)XX"] = count
        }
        return APIStatus(
            name: name, code: seen.code, message: seen.message, upToDateReplicas: seen.upToDate,
            requestedReplicas: seen.desired, staleReplicas: seen.stale, updatedAt: version.record.updatedAt,
            endpoint: version.api.networking.endpoint, meanLatency: totals?.meanLatency, answers: answers,
            spec: version.api)
    }

    private func register(_ version: Version) {
        let api = version.api
        let registered = context.registry.upsert(
            ServedAPI(
                name: api.name, endpoint: api.networking.endpoint, maxRequestSize: api.networking.maxRequestSize,
                timeout: api.predictor.timeout))
        let minimum = api.autoscaling.minReplicas
        registered.replicas.parkWhenEmpty(
            minimum == 0, limit: api.autoscaling.maxReplicaConcurrency,
            onDemand: { [weak self] in self?.demanded() })
    }

    private func demanded() {
        demandSince.withLock { if $0 == nil { $0 = .now } }
        wake.yield()
    }

    // MARK: The control loop

    /// Runs until the API is deleted (cancelled) or the operator stops: then drains every replica.
    private func control() async {
        var replicas: [Replica] = []
        var python: (generation: Int, path: String)?
        let clockStart = ContinuousClock.now
        func now() -> Double { (ContinuousClock.now - clockStart).seconds }
        var autoscaler: Autoscaler?
        var autoscalerGeneration = -1
        var lastDecision = 0.0
        var desired = 0

        // A tick every second: the autoscaler's sample.
        let ticker = Task { [wake] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
        }
        defer { ticker.cancel() }

        let set = context.registry.apis[name]?.replicas ?? ReplicaSet()
        var wakeups = self.wakeups.makeAsyncIterator()
        while !Task.isCancelled {
            let version = target.withLock { $0 }
            let api = version.api
            let generation = version.record.generation
            let configuration = Autoscaler.Configuration(api.autoscaling)
            if autoscalerGeneration != generation || autoscaler?.configuration != configuration {
                let previous = replicas.isEmpty ? nil : desired
                desired = Autoscaler.initialReplicas(previous: previous, configuration: configuration)
                autoscaler = try? Autoscaler(configuration: configuration, start: now())
                autoscalerGeneration = generation
                lastDecision = now()
            }
            // The signal: requests held by the replicas and parked at zero.
            let inFlight = set.inFlight
            autoscaler?.record(inFlight: Double(inFlight), at: now())
            if replicas.isEmpty && inFlight > 0 && desired == 0 || now() - lastDecision >= Autoscaler.bucketSeconds {
                if let decision = autoscaler?.decide(current: desired, now: now()) {
                    if let event = decision.event { context.logger.info("\(event)", metadata: ["api": .string(name)]) }
                    desired = decision.replicas
                }
                lastDecision = now()
            }
            replicaGauge.record(desired)

            let failed = observed.withLock { $0.failedGeneration == generation }
            if !failed {
                do {
                    try await reconcile(
                        version: version, desired: desired, replicas: &replicas, python: &python, set: set)
                } catch is CancellationError {
                    break
                } catch {
                    let message = "\(error)"
                    observed.withLock {
                        $0.failedGeneration = generation
                        $0.code = replicas.isEmpty ? .error : .live
                        $0.message = message
                    }
                    progress("error: \(message)")
                    context.logger.error(
                        "generation \(generation) failed; \(replicas.isEmpty ? "nothing serves" : "the previous version keeps serving")",
                        metadata: ["api": .string(name)])
                }
            }
            publish(replicas: replicas, generation: generation, desired: desired)
            guard await wakeups.next() != nil else { break }
        }
        // Deleted, or the operator stops: drain everything (accepted requests finish).
        set.close()
        stopWatchingModels()
        for replica in replicas {
            set.remove(replica.pool)
            replica.pool.beginDraining()
        }
        for replica in replicas { _ = try? await replica.task.value }
    }

    /// Records what `get` shows, and tells `--wait` when the version is live.
    private func publish(replicas: [Replica], generation: Int, desired: Int) {
        let upToDate = replicas.filter { $0.generation == generation }.count
        let settled = observed.withLock { seen -> Bool in
            seen.upToDate = upToDate
            seen.stale = replicas.count - upToDate
            seen.desired = desired
            guard seen.failedGeneration != generation else { return false }
            let live = upToDate == desired && seen.stale == 0
            seen.code = live ? .live : .updating
            if live, seen.settledGeneration != generation {
                seen.settledGeneration = generation
                seen.message = nil
                return true
            }
            return false
        }
        if settled { progress("api \(name) is live (\(upToDate) replica\(upToDate == 1 ? "" : "s"))") }
    }

    /// One step towards `desired` ready replicas of `version`: builds its environment if needed, then
    /// follows `RollingUpdate`'s next step (start new replicas and wait for them to be ready, stop old
    /// ones), repeating until nothing is left to do.
    private func reconcile(
        version: Version, desired: Int, replicas: inout [Replica], python: inout (generation: Int, path: String)?,
        set: ReplicaSet
    ) async throws {
        let generation = version.record.generation
        let api = version.api
        let strategy = RollingUpdate(
            maxSurge: api.updateStrategy.maxSurge, maxUnavailable: api.updateStrategy.maxUnavailable,
            replicas: max(desired, 1))
        while true {
            try Task.checkCancellation()
            let old = replicas.filter { $0.generation != generation }
            let new = replicas.filter { $0.generation == generation }
            let step = strategy.next(desired: desired, old: old.count, new: new.count)
            if step.isDone { return }
            // Stop first (the step keeps enough replicas available), newest first when scaling down.
            let stopping = Array(old.prefix(step.stopOld)) + Array(new.suffix(step.stopNew))
            for replica in stopping {
                set.remove(replica.pool)
                followModels(replica.pool, generation: replica.generation, false)
                replica.pool.beginDraining()
                replicas.removeAll { $0 === replica }  // its task ends once it has drained
            }
            if !stopping.isEmpty {
                context.logger.info(
                    "stopping \(stopping.count) replica\(stopping.count == 1 ? "" : "s") (\(old.isEmpty ? "scaling down" : "rolling update"))",
                    metadata: ["api": .string(name)])
            }
            guard step.startNew > 0 else { continue }
            let executable = try await environment(for: version, known: &python)
            progress(
                "starting \(step.startNew) replica\(step.startNew == 1 ? "" : "s") of api \(name) (generation \(generation))"
            )
            let started = try await startReplicas(step.startNew, of: version, python: executable)
            for replica in started {
                followModels(replica.pool, generation: replica.generation, true)
                set.add(replica.pool)
                replicas.append(replica)
            }
            if let since = demandSince.withLock({ value -> ContinuousClock.Instant? in
                defer { value = nil }
                return value
            }) {
                let seconds = (ContinuousClock.now - since).seconds
                coldStarts.recordNanoseconds(Int64(seconds * 1e9))
                context.logger.info("cold start: \(String(format: "%.2f", seconds))s", metadata: ["api": .string(name)])
            }
            publish(replicas: replicas, generation: generation, desired: desired)
        }
    }

    /// The API's Python environment for this version (built once per distinct requirements).
    private func environment(for version: Version, known: inout (generation: Int, path: String)?) async throws
        -> String
    {
        if let known, known.generation == version.record.generation { return known.path }
        let api = version.api
        progress("preparing the Python environment of api \(name)")
        let environment = try await context.environments.environment(
            runtimeRequirements: WorkerRuntime.requirements(
                for: api.predictor.type.rawValue, s3: ModelWatcher.usesS3(api)),
            projectRequirements: version.project.requirements, setup: version.project.setup,
            workingDirectory: version.root, label: "api \(name)")
        known = (version.record.generation, environment.python)
        return environment.python
    }

    /// Starts `count` replicas and returns them once every one is ready; if one fails to start, all
    /// are stopped and its error (the predictor's traceback) is thrown.
    private func startReplicas(_ count: Int, of version: Version, python: String) async throws -> [Replica] {
        let api = version.api
        let catalog = try await models(of: version, python: python)
        var started: [Replica] = []
        for _ in 0..<count {
            let devices = context.takeGPUs(for: api)
            let pool = WorkerPool(
                configuration: WorkerPoolConfiguration(
                    api: api, project: version.project, stagedRoot: version.root, python: python,
                    frontHost: context.host, frontPort: context.port, grace: context.grace,
                    noWorkerTimeout: context.noWorkerTimeout, cacheDirectory: context.environments.cacheRoot,
                    gpuDevices: devices.isEmpty ? nil : devices),
                socketPath: context.nextSocketPath(), logger: context.logger)
            if let catalog { pool.updateModels(catalog.frameJSON) }
            // The replica's GPUs go back once its workers have exited, however it stops.
            let task = Task { [context] in
                defer { context.gpus.withLock { $0.release(devices) } }
                try await pool.run()
            }
            started.append(Replica(pool: pool, generation: version.record.generation, task: task))
        }
        do {
            let starting = started
            try await withTaskCancellationHandler {
                for replica in starting { try await replica.pool.waitUntilReady() }
            } onCancel: {
                for replica in starting { replica.pool.beginDraining() }
            }
            return started
        } catch {
            for replica in started { replica.pool.beginDraining() }
            for replica in started { _ = try? await replica.task.value }
            throw error
        }
    }

    /// What the API's model watcher knows: the version it watches for, its latest catalog, and the
    /// replicas of that version that receive every change.
    struct ModelState {
        var generation = -1
        var catalog: ModelCatalog?
        var watcher: Task<Void, Never>?
        var pools: [ObjectIdentifier: WorkerPool] = [:]
    }

    /// The models a new replica of `version` starts with (nil without models): scanned once per version,
    /// which also starts watching them (new, changed and removed versions reach every replica of it, as
    /// `cortex serve`'s live reloading does).
    private func models(of version: Version, python: String) async throws -> ModelCatalog? {
        let generation = version.record.generation
        if let known = modelState.withLock({ $0.generation == generation ? $0.catalog : nil }) { return known }
        guard
            let watcher = ModelWatcher(
                api: version.api, projectRoot: version.root, cacheRoot: context.environments.cacheRoot,
                python: python, logger: context.logger)
        else { return nil }
        let catalog = try await watcher.scan()
        context.logger.info("models: \(ModelWatcher.describe(catalog))", metadata: ["api": .string(name)])
        context.registry.setModelMetadata(catalog.summaryJSON, for: name)
        let task = Task { [weak self] in
            await watcher.watch(from: catalog) { [weak self] changed in
                self?.modelsChanged(changed, generation: generation)
            }
        }
        let previous = modelState.withLock { state -> Task<Void, Never>? in
            defer { (state.generation, state.catalog, state.watcher, state.pools) = (generation, catalog, task, [:]) }
            return state.watcher
        }
        previous?.cancel()
        return catalog
    }

    private func modelsChanged(_ catalog: ModelCatalog, generation: Int) {
        let pools = modelState.withLock { state -> [WorkerPool] in
            guard state.generation == generation else { return [] }
            state.catalog = catalog
            return Array(state.pools.values)
        }
        for pool in pools { pool.updateModels(catalog.frameJSON) }
        context.registry.setModelMetadata(catalog.summaryJSON, for: name)
    }

    /// A replica of the watched version takes (or stops taking) model changes.
    private func followModels(_ pool: WorkerPool, generation: Int, _ following: Bool) {
        modelState.withLock { state in
            guard state.generation == generation || !following else { return }
            state.pools[ObjectIdentifier(pool)] = following ? pool : nil
        }
    }

    private func stopWatchingModels() {
        modelState.withLock { $0.watcher }?.cancel()
    }
}
