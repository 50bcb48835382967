import ChildProcesses
import CortexMetrics
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Scheduling
import ServiceLifecycle
import Subprocess
import Synchronization
import SystemPackage
import WorkerProtocol

/// A worker's answer to one request.
public struct WorkerResponse: Sendable {
    public var meta: ResponseMeta
    public var body: ByteBuffer
    /// When the worker reported it began running the request (its `START` frame), if it did: what
    /// separates queue time from worker time.
    public var startedAt: NIODeadline?

    public init(meta: ResponseMeta, body: ByteBuffer, startedAt: NIODeadline? = nil) {
        self.meta = meta
        self.body = body
        self.startedAt = startedAt
    }
}

/// How many of an API's workers can take requests.
public struct PoolReadiness: Sendable, Equatable {
    public var ready: Int
    public var total: Int
    public var isReady: Bool { ready == total && total > 0 }
}

/// Tells a queued request that its client has gone, so it is withdrawn instead of run for nobody
/// (the front's per-connection guard).
public protocol ClientWatch: Sendable {
    /// Runs `onGone` if the client goes away before `unwatch()`; returns false (and runs nothing) when
    /// it has already gone.
    func watch(_ onGone: @escaping @Sendable () -> Void) -> Bool
    func unwatch()
}

/// The worker processes of one API, as a `Service`: `run()` starts and supervises them until a
/// graceful shutdown drains them. Requests go through the dispatch state machine (queue, slots,
/// admission); the pool's lifecycle (starting, ready, respawning, draining, stopped) is
/// `WorkerPoolStateMachine`, and when to respawn is `RespawnPolicy` — all pure, this class only
/// performs what they decide.
public final class WorkerPool: Service, Sendable {
    public let configuration: WorkerPoolConfiguration
    let logger: Logger
    let socketPath: String
    private let state: Mutex<State>
    private let started = ContinuousClock.now
    /// Opened when draining begins: wakes supervisors waiting out a back-off.
    private let drainBegan = Latch()
    /// Workers respawned after exiting.
    private let restarts: Counter

    /// Called once with a request's outcome: the worker's response, or why there is none.
    public typealias Completion = @Sendable (Result<WorkerResponse, any Error>) -> Void

    struct Pending {
        var complete: Completion
        /// The frame's header and metadata, then the body: written as two buffers in one `writev`.
        var head: ByteBuffer
        var body: ByteBuffer
        /// When its worker began running it.
        var startedAt: NIODeadline?
    }

    enum Startup {
        case waiting([CheckedContinuation<Void, any Error>])
        case done
        case failed(WorkerStartupError)
        /// Stopped before every worker was ready.
        case stopped
    }

    struct State {
        var machine: DispatchStateMachine
        var lifecycle: WorkerPoolStateMachine
        var pending: [RequestID: Pending] = [:]
        var connections: [WorkerID: WorkerConnection] = [:]
        var pids: [WorkerID: pid_t] = [:]
        var output: [WorkerID: OutputTail] = [:]
        var failure: [WorkerID: String] = [:]
        var startup = Startup.waiting([])
        var drainDeadline: ContinuousClock.Instant?
        /// (Batching with a fixed interval) the deadline a batch timer is set for.
        var batchTimerAt: Double?
        /// The latest `MODELS` frame's JSON, for APIs with models.
        var modelsJSON: String?
        /// A malformed `METRICS` frame was logged (later ones are ignored silently).
        var malformedMetricsLogged = false
    }

    public init(configuration: WorkerPoolConfiguration, socketPath: String, logger: Logger) {
        self.configuration = configuration
        self.socketPath = socketPath
        var logger = logger
        logger[metadataKey: "api"] = .string(configuration.apiName)
        self.logger = logger
        self.restarts = Counter(label: MetricNames.workerRestarts, dimensions: [("api", configuration.apiName)])
        self.state = Mutex(
            State(
                machine: DispatchStateMachine(
                    admissionLimit: configuration.admissionLimit, batching: configuration.batching),
                lifecycle: WorkerPoolStateMachine(workers: configuration.processes, policy: configuration.respawnPolicy)
            ))
    }

    /// Seconds since the pool was created: the clock of the pure state machines.
    private func now() -> Double { (ContinuousClock.now - started).seconds }

    // MARK: Lifecycle

    /// Starts the workers and supervises them (respawning those that exit) until a graceful shutdown
    /// begins; then drains them — each finishes what it holds and its `post_predict` calls within the
    /// grace period, or is killed — and returns once every process has exited. Throws the first
    /// start's failure (with the predictor's traceback). Cancelling it kills the workers.
    public func run() async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WorkerChannelHandler(pool: self))
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.tick() }
                await withTaskGroup(of: Void.self) { supervisors in
                    for worker in 0..<configuration.processes {
                        supervisors.addTask { await self.supervise(worker) }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginDraining()
        }
        let pending = state.withLock { state in
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for request in pending { request.complete(.failure(DispatchError.shuttingDown)) }
        // Stopped before every worker was ready: whoever waits for readiness learns it will not come.
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .waiting(let waiters) = state.startup else { return [] }
            state.startup = .stopped
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: CancellationError()) }
        try? await listener.close()
        unlink(socketPath)
        if case .failed(let error) = state.withLock({ $0.startup }) { throw error }
    }

    /// Returns once every worker has constructed its predictor for the first time; throws why not.
    public func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = state.withLock { state -> Result<Void, WorkerStartupError>? in
                switch state.startup {
                case .waiting(let waiters):
                    state.startup = .waiting(waiters + [continuation])
                    return nil
                case .done: return .success(())
                case .failed(let error): return .failure(error)
                case .stopped:
                    return .failure(
                        .init(apiName: configuration.apiName, message: "stopped before it was ready", details: ""))
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Stops taking new work: tells every worker to finish what it holds and exit; nothing is
    /// respawned. Workers still running `configuration.shutdownGrace` seconds later are killed.
    public func beginDraining() {
        let connections = state.withLock { state -> [WorkerConnection] in
            guard state.lifecycle.beginDraining() else { return [] }
            state.drainDeadline = .now + .milliseconds(Int64(configuration.shutdownGrace * 1000))
            return Array(state.connections.values)
        }
        drainBegan.open()
        for connection in connections { connection.send(.shutdown) }
    }

    /// The lifecycle phase, for readiness and logs.
    public var phase: WorkerPoolStateMachine.Phase { state.withLock { $0.lifecycle.phase } }

    /// How many workers can take requests.
    public var readiness: PoolReadiness {
        state.withLock { PoolReadiness(ready: $0.lifecycle.readyCount, total: configuration.processes) }
    }

    /// Requests held (queued or on a worker).
    public var inFlight: Int { state.withLock { $0.machine.inFlight } }

    /// Requests waiting in the front for a worker slot (part of `inFlight`).
    public var queued: Int { state.withLock { $0.machine.queued } }

    /// Runs one worker slot: spawn, await the exit, respawn as the lifecycle decides.
    private func supervise(_ worker: WorkerID) async {
        while !Task.isCancelled {
            guard state.withLock({ $0.lifecycle.spawning(worker) }) else { return }
            let description = await runProcess(worker)
            let (action, startupFailure) = state.withLock { state -> (WorkerPoolStateMachine.ExitAction, String) in
                state.pids[worker] = nil
                let action = state.lifecycle.exited(worker, now: now())
                return (action, state.failure[worker] ?? state.output[worker]?.lines.joined(separator: "\n") ?? "")
            }
            workerDisconnected(worker, reason: description)
            switch action {
            case .stop:
                return
            case .failStartup:
                failStartup(
                    WorkerStartupError(
                        apiName: configuration.apiName,
                        message: "worker \(worker) \(description) before its predictor was ready",
                        details: startupFailure))
                return
            case .respawn(let delay):
                restarts.increment()
                if delay == 0 {
                    logger.error("worker \(worker) \(description); respawning it")
                } else {
                    logger.error("worker \(worker) \(description) (crash loop); respawning in \(delay)s")
                    await drainBegan.wait(atMost: delay)
                }
            }
        }
    }

    /// Every 100 ms: answers requests stranded with no worker (503 after `noWorkerTimeout`), and kills
    /// workers still alive after the drain's grace period.
    private func tick() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            let (stranded, overdue) = state.withLock { state -> ([(RequestID, Pending)], [pid_t]) in
                let expired = state.machine.expireStranded(now: now(), maxWait: configuration.noWorkerTimeout)
                let stranded = expired.compactMap { id in state.pending.removeValue(forKey: id).map { (id, $0) } }
                var overdue: [pid_t] = []
                if let deadline = state.drainDeadline, ContinuousClock.now >= deadline {
                    overdue = Array(state.pids.values)
                    state.drainDeadline = nil
                }
                return (stranded, overdue)
            }
            for (_, request) in stranded {
                request.complete(.failure(DispatchError.noWorkerAvailable(waited: configuration.noWorkerTimeout)))
            }
            if !stranded.isEmpty {
                logger.warning(
                    "\(stranded.count) request(s) waited \(configuration.noWorkerTimeout)s with no worker available: answered 503"
                )
            }
            for pid in overdue {
                logger.warning("worker did not stop within the grace period; killing it", metadata: ["pid": "\(pid)"])
                kill(pid, SIGKILL)
            }
        }
    }

    private func failStartup(_ error: WorkerStartupError) {
        let (waiters, pids) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], [pid_t]) in
            _ = state.lifecycle.beginDraining()
            guard case .waiting(let waiters) = state.startup else { return ([], []) }
            state.startup = .failed(error)
            return (waiters, Array(state.pids.values))
        }
        drainBegan.open()
        // The others are still starting and hold no requests: stop them now.
        for pid in pids { kill(pid, SIGKILL) }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    // MARK: Requests

    /// Sends a request to a worker (now, or when one has room) and waits for its response. With a
    /// `client`, the request is withdrawn if the client goes away before it starts — including when it
    /// has already gone by the time the request is queued. Cancelling the calling task withdraws it too.
    public func submit(
        id: RequestID, meta: RequestMeta, body: ByteBuffer, client: (any ClientWatch)? = nil
    ) async throws -> WorkerResponse {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                submit(id: id, meta: meta, body: body, client: client) { continuation.resume(with: $0) }
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// The callback form of `submit`, for the front's event-loop handlers (no task per request):
    /// `completion` is called exactly once, on whichever thread settles the request — at once when it
    /// is rejected (overloaded, shutting down, client already gone).
    public func submit(
        id: RequestID, meta: RequestMeta, body: ByteBuffer, client: (any ClientWatch)?,
        completion: @escaping Completion
    ) {
        let head = FrameCodec.encodeHead(kind: .request, requestID: id, meta: meta, bodyLength: body.readableBytes)
        let (refusal, writes) = state.withLock { state -> ((any Error)?, [Write]) in
            if state.lifecycle.phase == .draining || state.lifecycle.phase == .stopped {
                return (DispatchError.shuttingDown, [])
            }
            let now = now()
            let action = state.machine.submit(id, now: now)
            var assignments: [DispatchStateMachine.Assignment]
            switch action {
            case .rejected(let limit): return (DispatchError.overloaded(limit: limit), [])
            case .send(let assignment): assignments = [assignment]
            case .batched(let sent): assignments = sent
            case .queued: assignments = []
            }
            // Watched under the pool's lock: a client that leaves from here on finds the request
            // known to the state machine, and one that has already left is seen now.
            if let client, !client.watch({ [weak self] in self?.cancel(id) }) {
                // Not pending: left out of the batch it may have joined; the rest still go.
                if case .cancelOnWorker(_, let next) = state.machine.cancel(id, now: now) { assignments += next }
                let writes = Self.writes(for: assignments, in: state)
                armBatchTimer(&state)
                return (CancellationError(), writes)
            }
            state.pending[id] = Pending(complete: completion, head: head, body: body)
            let writes = Self.writes(for: assignments, in: state)
            armBatchTimer(&state)
            return (nil, writes)
        }
        if let refusal { completion(.failure(refusal)) }
        perform(writes)
    }

    /// Withdraws a request whose caller no longer waits (client gone, deadline passed): it is dropped
    /// from the queue, or its worker is told to skip it if it has not started. The caller's `submit`
    /// throws `CancellationError` at once either way. A request that is already running keeps its
    /// worker busy until it finishes; with `killAfter`, a worker still running it that much later is
    /// killed (and respawned), so hung native code cannot hold a slot forever.
    public func cancel(_ id: RequestID, killAfter grace: Double? = nil) {
        let (pending, notify, next, running) = state.withLock {
            state -> (Pending?, WorkerConnection?, [DispatchStateMachine.Assignment], WorkerID?) in
            let action = state.machine.cancel(id, now: now())
            // The queue's head or a worker's room may have changed: the batch timer follows.
            armBatchTimer(&state)
            switch action {
            case .removedFromQueue:
                return (state.pending.removeValue(forKey: id), nil, [], nil)
            case .cancelOnWorker(let worker, let next):
                return (state.pending.removeValue(forKey: id), state.connections[worker], next, nil)
            case .running(let worker):
                return (state.pending.removeValue(forKey: id), nil, [], worker)
            case .unknown:
                return (nil, nil, [], nil)
            }
        }
        pending?.complete(.failure(CancellationError()))
        notify?.send(.cancel, requestID: id)
        send(next)
        if let running, let grace { killIfStillRunning(id, on: running, after: grace) }
    }

    private func killIfStillRunning(_ id: RequestID, on worker: WorkerID, after grace: Double) {
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(grace * 1000)))
            let pid = state.withLock { state -> pid_t? in
                guard state.machine.worker(running: id) == worker else { return nil }
                return state.pids[worker]
            }
            guard let pid else { return }
            logger.error(
                "worker \(worker) is still running request \(RequestIDGenerator.format(id)) \(grace)s after its timeout; killing it"
            )
            kill(pid, SIGKILL)
        }
    }

    /// What to write to one worker's socket, in one flush.
    enum Write {
        /// A `REQUEST` frame: its head (header and metadata) and body.
        case request(WorkerConnection, head: ByteBuffer, body: ByteBuffer)
        /// A `BATCH` frame: its head, then each request's head and body.
        case batch(WorkerConnection, [ByteBuffer])
    }

    /// The frames that carry `assignments`: a `REQUEST` frame (head, body), or a `BATCH` head followed
    /// by each request's frame. Requests no longer pending (withdrawn meanwhile) are left out; a batch
    /// left empty is not sent.
    private static func writes(for assignments: [DispatchStateMachine.Assignment], in state: State) -> [Write] {
        assignments.compactMap { assignment -> Write? in
            guard let connection = state.connections[assignment.worker] else { return nil }
            guard assignment.isBatch else {
                guard let pending = state.pending[assignment.request] else { return nil }
                return .request(connection, head: pending.head, body: pending.body)
            }
            var buffers: [ByteBuffer] = [ByteBuffer()]
            var count = 0
            var length = 0
            for request in assignment.requests {
                guard let pending = state.pending[request] else { continue }
                buffers.append(pending.head)
                buffers.append(pending.body)
                count += 1
                length += pending.head.readableBytes + pending.body.readableBytes
            }
            guard count > 0 else { return nil }
            buffers[0] = FrameCodec.encodeBatchHead(count: count, bodyLength: length)
            return .batch(connection, buffers)
        }
    }

    private func perform(_ writes: [Write]) {
        for write in writes {
            switch write {
            case .request(let connection, let head, let body): connection.send(head, body)
            case .batch(let connection, let buffers): connection.send(buffers: buffers)
            }
        }
    }

    private func send(_ assignments: [DispatchStateMachine.Assignment]) {
        guard !assignments.isEmpty else { return }
        perform(state.withLock { Self.writes(for: assignments, in: $0) })
    }

    /// (Batching with a fixed interval) Makes sure a timer fires when the oldest queued request's
    /// batch is due. Called under the lock after every change to the queue.
    private func armBatchTimer(_ state: inout State) {
        guard let deadline = state.machine.nextBatchDeadline else { return }
        if let armed = state.batchTimerAt, armed <= deadline + 1e-6 { return }
        state.batchTimerAt = deadline
        let delay = max(0, deadline - now())
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) {
            [weak self] in self?.batchTimerFired()
        }
    }

    private func batchTimerFired() {
        let writes = state.withLock { state -> [Write] in
            state.batchTimerAt = nil
            let sent = state.machine.flushDue(now: now())
            armBatchTimer(&state)
            return Self.writes(for: sent, in: state)
        }
        perform(writes)
    }

    /// Tells every worker (and every worker that connects later) which model versions exist now.
    public func updateModels(_ json: String) {
        let connections = state.withLock { state in
            state.modelsJSON = json
            return Array(state.connections.values)
        }
        for connection in connections { connection.send(.models, meta: ByteBuffer(string: json)) }
    }

    // MARK: Worker events (called on the worker connection's event loop)

    func workerConnected(_ worker: WorkerID, pid: Int32, channel: any Channel) -> Bool {
        let (accepted, models, connection) = state.withLock { state -> (Bool, String?, WorkerConnection?) in
            guard state.pids[worker] == pid, state.lifecycle.connected(worker) else { return (false, nil, nil) }
            let connection = WorkerConnection(channel: channel)
            state.connections[worker] = connection
            return (true, state.modelsJSON, connection)
        }
        if let models { connection?.send(.models, meta: ByteBuffer(string: models)) }
        // Connected while draining (it was still starting when the drain began): stop it at once.
        if accepted, drainBegan.isOpen { connection?.send(.shutdown) }
        return accepted
    }

    func workerReady(_ worker: WorkerID) {
        let (outcome, assignments, waiters) = state.withLock {
            state -> (
                WorkerPoolStateMachine.ReadyOutcome, [DispatchStateMachine.Assignment],
                [CheckedContinuation<Void, any Error>]
            ) in
            let outcome = state.lifecycle.ready(worker, now: now())
            guard outcome != .ignored else { return (outcome, [], []) }
            let assignments = state.machine.workerReady(
                worker, capacity: configuration.workerCapacity, now: now())
            armBatchTimer(&state)
            var waiters: [CheckedContinuation<Void, any Error>] = []
            if outcome == .startupComplete, case .waiting(let list) = state.startup {
                waiters = list
                state.startup = .done
            }
            return (outcome, assignments, waiters)
        }
        guard outcome != .ignored else { return }
        logger.info("worker \(worker) ready")
        for waiter in waiters { waiter.resume() }
        send(assignments)
    }

    func workerFailed(_ worker: WorkerID, error: String, traceback: String) {
        state.withLock { $0.failure[worker] = traceback.isEmpty ? error : "\(error)\n\(traceback)" }
        logger.error("worker \(worker) failed to start: \(error)")
    }

    func requestStarted(_ id: RequestID) {
        let now = NIODeadline.now()
        state.withLock { state in
            state.machine.started(id)
            state.pending[id]?.startedAt = now
        }
    }

    func responseArrived(_ frame: Frame, from worker: WorkerID) {
        let (pending, writes) = state.withLock { state -> (Pending?, [Write]) in
            state.lifecycle.served(worker)
            let pending = state.pending.removeValue(forKey: frame.requestID)
            let next = state.machine.completed(frame.requestID, now: now())
            armBatchTimer(&state)
            return (pending, next.isEmpty ? [] : Self.writes(for: next, in: state))
        }
        perform(writes)
        guard let pending else { return }
        do {
            let meta = try ResponseMeta.decode(from: frame.meta)
            pending.complete(.success(WorkerResponse(meta: meta, body: frame.body, startedAt: pending.startedAt)))
        } catch {
            pending.complete(.failure(error))
        }
    }

    /// A `METRICS` frame: the predictor's metrics and the runtime's model loads, recorded with the
    /// dimension `api` (`PredictorMetricsRecorder`). Entries the front refuses are logged once each; a
    /// malformed frame is logged once per pool and ignored — never a reason to drop the worker.
    func metricsArrived(_ frame: Frame, from worker: WorkerID) {
        let samples: [MetricSample]
        do {
            samples = try MetricsFrame.decode(frame.meta.readableBytesView)
        } catch {
            let first = state.withLock { state in
                defer { state.malformedMetricsLogged = true }
                return !state.malformedMetricsLogged
            }
            if first { logger.error("worker \(worker) sent a \(error); ignoring it (and any later one)") }
            return
        }
        for refusal in PredictorMetricsRecorder.shared.record(samples, api: configuration.apiName) {
            logger.warning("predictor metrics: \(refusal); not recorded (reported once)")
        }
    }

    /// A worker's connection closed; ignored when it is not the worker's current connection (a late
    /// close of a previous process's socket).
    func connectionClosed(_ worker: WorkerID, channel: any Channel) {
        let current = state.withLock { $0.connections[worker]?.channel === channel }
        if current { workerDisconnected(worker, reason: "connection closed") }
    }

    /// The worker's connection closed (or its process exited): requests it had started fail, the
    /// others go elsewhere. A worker whose connection broke cannot be talked to again: its process is
    /// ended, so it is respawned.
    func workerDisconnected(_ worker: WorkerID, reason: String) {
        let (loss, failed, orphan) = state.withLock {
            state -> (DispatchStateMachine.WorkerLoss, [Pending], pid_t?) in
            state.lifecycle.disconnected(worker)
            state.connections[worker] = nil
            let loss = state.machine.workerLost(worker, now: now())
            armBatchTimer(&state)
            return (loss, loss.failed.compactMap { state.pending.removeValue(forKey: $0) }, state.pids[worker])
        }
        if let orphan { kill(orphan, SIGKILL) }
        if !failed.isEmpty || !loss.reassigned.isEmpty || loss.requeued > 0 {
            logger.warning(
                "worker \(worker) lost: \(failed.count) running request(s) failed, \(loss.reassigned.count + loss.requeued) re-dispatched"
            )
        }
        for request in failed {
            request.complete(.failure(DispatchError.workerDied(exitDescription: reason)))
        }
        send(loss.reassigned)
    }

    // MARK: Processes

    /// Runs one worker process until it exits; returns how it ended ("exited with status 1", "killed by
    /// signal 9"). Its stdout and stderr go to the log, line by line. Cancelling the calling task
    /// kills it.
    private func runProcess(_ worker: WorkerID) async -> String {
        var environment: [Environment.Key: String?] = [:]
        for (key, value) in configuration.environment { environment[Environment.Key(rawValue: key)!] = value }
        environment["PYTHONPATH"] = WorkerRuntime.pythonPath
        environment["CORTEX_WORKER_SPEC"] = configuration.workerSpecJSON
        environment["PYTHONUNBUFFERED"] = "1"
        let stdout = Pipe()
        let stderr = Pipe()
        forwardLines(of: stdout, worker: worker, stream: "stdout")
        forwardLines(of: stderr, worker: worker, stream: "stderr")
        state.withLock { state in
            state.output[worker] = OutputTail()
            state.failure[worker] = nil
        }
        let writeEnds = WriteEnds(stdout.fileHandleForWriting, stderr.fileHandleForWriting)
        defer { writeEnds.close() }
        var options = PlatformOptions()
        // A cancelled pool stops at once: nothing it holds is waited for.
        options.teardownSequence = []
        do {
            let result = try await Subprocess.run(
                .path(FilePath(configuration.pythonExecutable)),
                arguments: ["-m", "cortex_worker", "--socket", socketPath, "--worker", String(worker)],
                environment: .inherit.updating(environment),
                workingDirectory: FilePath(configuration.projectDirectory),
                platformOptions: options,
                input: .none,
                output: .fileDescriptor(
                    FileDescriptor(rawValue: stdout.fileHandleForWriting.fileDescriptor),
                    closeAfterSpawningProcess: false),
                error: .fileDescriptor(
                    FileDescriptor(rawValue: stderr.fileHandleForWriting.fileDescriptor),
                    closeAfterSpawningProcess: false)
            ) { execution in
                // Spawned: only the child writes to the pipes now, so they end when it (and its children) exit.
                writeEnds.close()
                let pid = execution.processIdentifier.value
                state.withLock { $0.pids[worker] = pid }
                logger.debug("worker \(worker) spawned", metadata: ["pid": "\(pid)"])
            }
            switch result.terminationStatus {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "killed by signal \(signal)"
            }
        } catch {
            return "could not be started (\(configuration.pythonExecutable)): \(error)"
        }
    }

    private func forwardLines(of pipe: Pipe, worker: WorkerID, stream: String) {
        let splitter = LineSplitter()
        let logger = self.logger
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            let lines = data.isEmpty ? splitter.finish().map { [$0] } ?? [] : splitter.append(data)
            if data.isEmpty { handle.readabilityHandler = nil }
            for line in lines {
                logger.info("\(line)", metadata: ["worker": "\(worker)", "stream": .string(stream)])
                self?.state.withLock { $0.output[worker]?.append(line) }
            }
        }
    }
}

/// The parent's copies of a worker's stdout/stderr write ends, closed once (after the spawn, or when a
/// spawn fails).
private final class WriteEnds: Sendable {
    private let handles: Mutex<[FileHandle]>

    init(_ handles: FileHandle...) {
        self.handles = Mutex(handles)
    }

    func close() {
        let handles = self.handles.withLock { handles in
            defer { handles = [] }
            return handles
        }
        for handle in handles { try? handle.close() }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
