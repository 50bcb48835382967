import ChildProcesses
import Foundation
import Logging
import NIOCore
import NIOPosix
import Scheduling
import Synchronization
import WorkerProtocol

/// A worker's answer to one request.
public struct WorkerResponse: Sendable {
    public var meta: ResponseMeta
    public var body: ByteBuffer
}

/// How many of an API's workers can take requests.
public struct PoolReadiness: Sendable, Equatable {
    public var ready: Int
    public var total: Int
    public var isReady: Bool { ready == total && total > 0 }
}

/// The worker processes of one API: spawns them, hands them requests through the dispatch state
/// machine, answers callers when responses arrive, and respawns workers that die.
public final class WorkerPool: Sendable {
    public let configuration: WorkerPoolConfiguration
    let logger: Logger
    let socketPath: String
    private let state: Mutex<State>

    struct Pending {
        var continuation: CheckedContinuation<WorkerResponse, any Error>
        var frame: ByteBuffer
    }

    enum Phase: Equatable {
        case spawning, connected, ready, exited
    }

    struct Slot {
        var process: Process?
        var connection: WorkerConnection?
        var phase: Phase = .spawning
        var spawnedAt = ContinuousClock.now
        var backoff = RestartBackoff()
        var failure: String?
        var output = OutputTail()
    }

    struct StartupWaiter {
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var machine: DispatchStateMachine
        var pending: [RequestID: Pending] = [:]
        var slots: [WorkerID: Slot] = [:]
        var stopping = false
        var startup: StartupWaiter?
        var listener: (any Channel)?
        /// The latest `MODELS` frame's JSON, for APIs with models.
        var modelsJSON: String?
    }

    public init(configuration: WorkerPoolConfiguration, socketPath: String, logger: Logger) {
        self.configuration = configuration
        self.socketPath = socketPath
        var logger = logger
        logger[metadataKey: "api"] = .string(configuration.apiName)
        self.logger = logger
        self.state = Mutex(State(machine: DispatchStateMachine(admissionLimit: configuration.admissionLimit)))
    }

    // MARK: Lifecycle

    /// Starts the workers and returns once every one of them has constructed its predictor.
    /// Throws, with the predictor's traceback, when one fails to start.
    public func start() async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WorkerChannelHandler(pool: self))
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
        state.withLock { $0.listener = listener }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { $0.startup = StartupWaiter(continuation: continuation) }
                for worker in 0..<configuration.processes { spawn(worker) }
            }
        } catch {
            await shutdown()
            throw error
        }
    }

    /// Stops the workers: each finishes what it holds (and its `post_predict` calls) within the grace
    /// period, then is killed.
    public func shutdown() async {
        let connections = state.withLock { state -> [WorkerConnection] in
            state.stopping = true
            return state.slots.values.compactMap(\.connection)
        }
        for connection in connections { connection.send(.shutdown) }
        let deadline = ContinuousClock.now + .seconds(configuration.shutdownGrace)
        while ContinuousClock.now < deadline, runningProcesses().count > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for pid in runningProcesses() {
            logger.warning("worker did not stop within the grace period; killing it", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
        }
        while runningProcesses().count > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        let (listener, pending) = state.withLock { state in
            let pending = Array(state.pending.values)
            state.pending.removeAll()
            return (state.listener, pending)
        }
        for request in pending { request.continuation.resume(throwing: DispatchError.shuttingDown) }
        try? await listener?.close()
        unlink(socketPath)
    }

    private func runningProcesses() -> [pid_t] {
        state.withLock { state in
            state.slots.values.filter { $0.phase != .exited }.compactMap { $0.process?.processIdentifier }
        }
    }

    /// How many workers can take requests.
    public var readiness: PoolReadiness {
        state.withLock { state in
            PoolReadiness(
                ready: state.slots.values.filter { $0.phase == .ready }.count, total: configuration.processes)
        }
    }

    /// Requests held (queued or on a worker).
    public var inFlight: Int { state.withLock { $0.machine.inFlight } }

    // MARK: Requests

    /// Sends a request to a worker (now, or when one has room) and waits for its response.
    public func submit(id: RequestID, meta: RequestMeta, body: ByteBuffer) async throws -> WorkerResponse {
        var metaBuffer = ByteBuffer()
        meta.encode(into: &metaBuffer)
        var frame = ByteBuffer()
        FrameCodec.encode(Frame(kind: .request, requestID: id, meta: metaBuffer, body: body), into: &frame)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let outcome = state.withLock { state -> Result<WorkerConnection?, DispatchError> in
                    if state.stopping { return .failure(.shuttingDown) }
                    switch state.machine.submit(id) {
                    case .rejected(let limit):
                        return .failure(.overloaded(limit: limit))
                    case .queued:
                        state.pending[id] = Pending(continuation: continuation, frame: frame)
                        return .success(nil)
                    case .send(let assignment):
                        state.pending[id] = Pending(continuation: continuation, frame: frame)
                        return .success(state.slots[assignment.worker]?.connection)
                    }
                }
                switch outcome {
                case .failure(let error): continuation.resume(throwing: error)
                case .success(let connection): connection?.send(frame)
                }
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// Withdraws a request whose caller no longer waits (client gone, deadline passed): it is dropped
    /// from the queue, or its worker is told to skip it if it has not started. The caller's `submit`
    /// throws `CancellationError` at once either way. A request that is already running keeps its
    /// worker busy until it finishes; with `killAfter`, a worker still running it that much later is
    /// killed (and respawned), so hung native code cannot hold a slot forever.
    public func cancel(_ id: RequestID, killAfter grace: Double? = nil) {
        let (pending, notify, next, running) = state.withLock {
            state -> (Pending?, WorkerConnection?, [DispatchStateMachine.Assignment], WorkerID?) in
            switch state.machine.cancel(id) {
            case .removedFromQueue:
                return (state.pending.removeValue(forKey: id), nil, [], nil)
            case .cancelOnWorker(let worker, let next):
                return (state.pending.removeValue(forKey: id), state.slots[worker]?.connection, next, nil)
            case .running(let worker):
                return (state.pending.removeValue(forKey: id), nil, [], worker)
            case .unknown:
                return (nil, nil, [], nil)
            }
        }
        pending?.continuation.resume(throwing: CancellationError())
        notify?.send(.cancel, requestID: id)
        send(next)
        if let running, let grace { killIfStillRunning(id, on: running, after: grace) }
    }

    private func killIfStillRunning(_ id: RequestID, on worker: WorkerID, after grace: Double) {
        Task {
            try? await Task.sleep(for: .seconds(grace))
            let pid = state.withLock { state -> pid_t? in
                guard state.machine.worker(running: id) == worker, state.slots[worker]?.phase == .ready else {
                    return nil
                }
                return state.slots[worker]?.process?.processIdentifier
            }
            guard let pid else { return }
            logger.error(
                "worker \(worker) is still running request \(RequestIDGenerator.format(id)) \(grace)s after its timeout; killing it"
            )
            kill(pid, SIGKILL)
        }
    }

    private func send(_ assignments: [DispatchStateMachine.Assignment]) {
        guard !assignments.isEmpty else { return }
        let writes = state.withLock { state in
            assignments.compactMap { assignment -> (WorkerConnection, ByteBuffer)? in
                guard let connection = state.slots[assignment.worker]?.connection,
                    let frame = state.pending[assignment.request]?.frame
                else { return nil }
                return (connection, frame)
            }
        }
        for (connection, frame) in writes { connection.send(frame) }
    }

    // MARK: Worker events (called on the worker connection's event loop)

    func workerConnected(_ worker: WorkerID, pid: Int32, channel: any Channel) -> Bool {
        let (accepted, models) = state.withLock { state -> (Bool, String?) in
            guard var slot = state.slots[worker], slot.phase == .spawning,
                slot.process?.processIdentifier == pid
            else { return (false, nil) }
            slot.connection = WorkerConnection(channel: channel)
            slot.phase = .connected
            state.slots[worker] = slot
            return (true, state.modelsJSON)
        }
        if accepted, let models {
            state.withLock { $0.slots[worker]?.connection }?.send(.models, meta: ByteBuffer(string: models))
        }
        return accepted
    }

    /// Tells every worker (and every worker that connects later) which model versions exist now.
    public func updateModels(_ json: String) {
        let connections = state.withLock { state in
            state.modelsJSON = json
            return state.slots.values.compactMap(\.connection)
        }
        for connection in connections { connection.send(.models, meta: ByteBuffer(string: json)) }
    }

    func workerReady(_ worker: WorkerID) {
        let (assignments, startupDone) = state.withLock {
            state -> ([DispatchStateMachine.Assignment], CheckedContinuation<Void, any Error>?) in
            guard state.slots[worker]?.phase == .connected else { return ([], nil) }
            state.slots[worker]?.phase = .ready
            let assignments = state.machine.workerReady(worker, capacity: configuration.workerCapacity)
            var done: CheckedContinuation<Void, any Error>?
            if let waiter = state.startup, state.slots.values.allSatisfy({ $0.phase == .ready }),
                state.slots.count == configuration.processes
            {
                done = waiter.continuation
                state.startup = nil
            }
            return (assignments, done)
        }
        logger.info("worker \(worker) ready")
        startupDone?.resume()
        send(assignments)
    }

    func workerFailed(_ worker: WorkerID, error: String, traceback: String) {
        state.withLock { $0.slots[worker]?.failure = traceback.isEmpty ? error : "\(error)\n\(traceback)" }
        logger.error("worker \(worker) failed to start: \(error)")
    }

    func requestStarted(_ id: RequestID) {
        state.withLock { $0.machine.started(id) }
    }

    func responseArrived(_ frame: Frame) {
        let (pending, next) = state.withLock { state in
            (state.pending.removeValue(forKey: frame.requestID), state.machine.completed(frame.requestID))
        }
        send(next)
        guard let pending else { return }
        do {
            let meta = try ResponseMeta.decode(from: frame.meta)
            pending.continuation.resume(returning: WorkerResponse(meta: meta, body: frame.body))
        } catch {
            pending.continuation.resume(throwing: error)
        }
    }

    /// The worker's connection closed: requests it had started fail, the others go elsewhere.
    func workerDisconnected(_ worker: WorkerID, reason: String) {
        let (loss, failed, orphan) = state.withLock {
            state -> (DispatchStateMachine.WorkerLoss, [Pending], pid_t?) in
            var orphan: pid_t?
            if state.slots[worker]?.phase != .exited {
                state.slots[worker]?.phase = .spawning
                // A worker whose connection broke cannot be talked to again: end it, so it is respawned.
                if !state.stopping { orphan = state.slots[worker]?.process?.processIdentifier }
            }
            state.slots[worker]?.connection = nil
            let loss = state.machine.workerLost(worker)
            return (loss, loss.failed.compactMap { state.pending.removeValue(forKey: $0) }, orphan)
        }
        if let orphan { kill(orphan, SIGKILL) }
        if !failed.isEmpty || !loss.reassigned.isEmpty || loss.requeued > 0 {
            logger.warning(
                "worker \(worker) lost: \(failed.count) running request(s) failed, \(loss.reassigned.count + loss.requeued) re-dispatched"
            )
        }
        for request in failed {
            request.continuation.resume(throwing: DispatchError.workerDied(exitDescription: reason))
        }
        send(loss.reassigned)
    }

    // MARK: Processes

    private func spawn(_ worker: WorkerID) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: configuration.pythonExecutable)
        process.arguments = ["-m", "cortex_worker", "--socket", socketPath, "--worker", String(worker)]
        process.currentDirectoryURL = URL(fileURLWithPath: configuration.projectDirectory)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(configuration.environment) { _, new in new }
        environment["PYTHONPATH"] = WorkerRuntime.pythonPath
        environment["CORTEX_WORKER_SPEC"] = configuration.workerSpecJSON
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        forwardLines(of: stdout, worker: worker, stream: "stdout")
        forwardLines(of: stderr, worker: worker, stream: "stderr")
        process.terminationHandler = { [weak self] process in
            self?.processExited(worker, status: process.terminationStatus, reason: process.terminationReason)
        }
        state.withLock { state in
            var slot = state.slots[worker] ?? Slot()
            slot.process = process
            slot.phase = .spawning
            slot.spawnedAt = .now
            slot.failure = nil
            slot.output = OutputTail()
            state.slots[worker] = slot
        }
        do {
            try process.run()
            logger.debug("worker \(worker) spawned", metadata: ["pid": "\(process.processIdentifier)"])
        } catch {
            state.withLock { $0.slots[worker]?.phase = .exited }
            failStartup(
                WorkerStartupError(
                    apiName: configuration.apiName,
                    message: "cannot start \(configuration.pythonExecutable): \(error)", details: ""))
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
                logger.info(
                    "\(line)", metadata: ["worker": "\(worker)", "stream": .string(stream)])
                self?.state.withLock { $0.slots[worker]?.output.append(line) }
            }
        }
    }

    private func processExited(_ worker: WorkerID, status: Int32, reason: Process.TerminationReason) {
        let description = reason == .uncaughtSignal ? "killed by signal \(status)" : "exited with status \(status)"
        let (uptime, stopping, startupFailure) = state.withLock { state -> (Double, Bool, WorkerStartupError?) in
            guard var slot = state.slots[worker] else { return (0, true, nil) }
            slot.phase = .exited
            state.slots[worker] = slot
            let uptime = (ContinuousClock.now - slot.spawnedAt).seconds
            var failure: WorkerStartupError?
            if state.startup != nil {
                failure = WorkerStartupError(
                    apiName: configuration.apiName,
                    message: "worker \(worker) \(description) before its predictor was ready",
                    details: slot.failure ?? slot.output.lines.joined(separator: "\n"))
            }
            return (uptime, state.stopping, failure)
        }
        // Give the socket a moment to report the close first; then make sure the loss is handled.
        workerDisconnected(worker, reason: description)
        if let startupFailure {
            failStartup(startupFailure)
            return
        }
        guard !stopping else { return }
        let delay = state.withLock { $0.slots[worker]?.backoff.delayAfterExit(uptime: uptime) ?? 1 }
        logger.error("worker \(worker) \(description); respawning in \(delay)s")
        Task {
            try? await Task.sleep(for: .seconds(delay))
            guard !self.state.withLock({ $0.stopping }) else { return }
            self.spawn(worker)
        }
    }

    private func failStartup(_ error: WorkerStartupError) {
        let waiter = state.withLock { state -> StartupWaiter? in
            defer { state.startup = nil }
            return state.startup
        }
        waiter?.continuation.resume(throwing: error)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
