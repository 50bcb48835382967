import DequeModule

/// Identifies a worker process within one API.
public typealias WorkerID = Int
/// Identifies a request within one `cortex serve` (see `docs/PROTOCOL.md`, "Request ids").
public typealias RequestID = UInt64

/// The front's queue and per-worker slots for one API: pure state, no I/O.
///
/// Every request is either waiting in the front's FIFO queue or assigned to one worker. A worker holds
/// at most `capacity` requests (its threads plus a small prefetch window); the rest wait here and go to
/// the least-loaded ready worker as slots free up, so a busy or dead worker never strands queued work.
/// The caller performs the actions each transition returns.
public struct DispatchStateMachine: Sendable {
    /// A request to write to a worker's socket.
    public struct Assignment: Sendable, Equatable {
        public var request: RequestID
        public var worker: WorkerID
        public init(request: RequestID, worker: WorkerID) {
            self.request = request
            self.worker = worker
        }
    }

    /// What to do with a newly submitted request.
    public enum SubmitAction: Sendable, Equatable {
        /// Write it to this worker now.
        case send(Assignment)
        /// It waits in the front's queue.
        case queued
        /// Admission refused it: `limit` requests are already in flight or queued.
        case rejected(limit: Int)
    }

    /// What withdrawing a request (client gone, deadline passed) means.
    public enum CancelAction: Sendable, Equatable {
        /// It was waiting in the queue and is gone; nothing was sent anywhere.
        case removedFromQueue
        /// It was assigned to a worker that had not started it: send that worker a `CANCEL`.
        /// `next` lists queued requests that now take the freed slot.
        case cancelOnWorker(WorkerID, next: [Assignment])
        /// It is running on this worker; it cannot be withdrawn, and keeps its slot until the worker
        /// answers (the answer is discarded).
        case running(WorkerID)
        /// The request is unknown (already finished).
        case unknown
    }

    /// The consequences of a worker's death.
    public struct WorkerLoss: Sendable, Equatable {
        /// Requests that had started on it: they fail.
        public var failed: [RequestID]
        /// Requests that had not started, now sent to other workers.
        public var reassigned: [Assignment]
        /// How many went back to the queue (no worker had room).
        public var requeued: Int
    }

    struct Worker: Sendable {
        var capacity: Int
        var assigned: [RequestID] = []
        var started: Set<RequestID> = []
    }

    private var workers: [WorkerID: Worker] = [:]
    private var queue: Deque<RequestID> = []
    private var location: [RequestID: WorkerID] = [:]
    /// When each queued request (re-)entered the queue, in the caller's clock (seconds).
    private var queuedAt: [RequestID: Double] = [:]
    /// Since when no worker has been ready (set when the last one is lost).
    private var noWorkerSince: Double?
    /// Requests allowed in flight plus queued; `nil` = unbounded.
    public var admissionLimit: Int?

    public init(admissionLimit: Int? = nil) {
        self.admissionLimit = admissionLimit
    }

    /// Requests assigned to workers or waiting in the queue.
    public var inFlight: Int { location.count + queue.count }
    /// Requests waiting in the front's queue.
    public var queued: Int { queue.count }
    /// Workers that can take requests.
    public var readyWorkers: Int { workers.count }

    /// A new request arrives at `now` (seconds, the caller's monotonic clock).
    public mutating func submit(_ request: RequestID, now: Double = 0) -> SubmitAction {
        if let limit = admissionLimit, inFlight >= limit { return .rejected(limit: limit) }
        if queue.isEmpty, let worker = leastLoadedWorkerWithRoom() {
            assign(request, to: worker)
            return .send(Assignment(request: request, worker: worker))
        }
        queue.append(request)
        queuedAt[request] = now
        return .queued
    }

    /// Requests stranded because no worker is ready: those that have waited `maxWait` seconds or more
    /// while no worker was ready are removed from the queue and returned (the caller answers them
    /// 503). Nothing expires while a worker is ready — a busy API is bounded by `predictor.timeout` and
    /// admission instead.
    public mutating func expireStranded(now: Double, maxWait: Double) -> [RequestID] {
        guard workers.isEmpty, !queue.isEmpty else { return [] }
        var expired: [RequestID] = []
        queue.removeAll { request in
            let since = max(queuedAt[request] ?? now, noWorkerSince ?? -.infinity)
            guard now - since >= maxWait else { return false }
            expired.append(request)
            queuedAt[request] = nil
            return true
        }
        return expired
    }

    /// The worker sent `START` for `request`.
    public mutating func started(_ request: RequestID) {
        guard let worker = location[request] else { return }
        workers[worker]?.started.insert(request)
    }

    /// The worker answered `request`. Returns the queued requests that take the freed slot.
    public mutating func completed(_ request: RequestID) -> [Assignment] {
        guard let worker = location.removeValue(forKey: request) else { return [] }
        workers[worker]?.assigned.removeAll { $0 == request }
        workers[worker]?.started.remove(request)
        return drainQueue()
    }

    /// The request is no longer wanted.
    public mutating func cancel(_ request: RequestID) -> CancelAction {
        if queuedAt.removeValue(forKey: request) != nil, let index = queue.firstIndex(of: request) {
            queue.remove(at: index)
            return .removedFromQueue
        }
        guard let worker = location[request] else { return .unknown }
        if workers[worker]?.started.contains(request) == true { return .running(worker) }
        location[request] = nil
        workers[worker]?.assigned.removeAll { $0 == request }
        return .cancelOnWorker(worker, next: drainQueue())
    }

    /// A worker is ready to take up to `capacity` requests. Returns queued requests sent to it.
    public mutating func workerReady(_ worker: WorkerID, capacity: Int) -> [Assignment] {
        workers[worker] = Worker(capacity: max(1, capacity))
        noWorkerSince = nil
        return drainQueue()
    }

    /// A worker died or was stopped: started requests fail, the others go to other workers first in
    /// line, in their original order.
    public mutating func workerLost(_ worker: WorkerID, now: Double = 0) -> WorkerLoss {
        guard let state = workers.removeValue(forKey: worker) else {
            return WorkerLoss(failed: [], reassigned: [], requeued: 0)
        }
        if workers.isEmpty { noWorkerSince = now }
        var failed: [RequestID] = []
        var unstarted: [RequestID] = []
        for request in state.assigned {
            location[request] = nil
            if state.started.contains(request) { failed.append(request) } else { unstarted.append(request) }
        }
        queue.insert(contentsOf: unstarted, at: 0)
        for request in unstarted { queuedAt[request] = now }
        let reassigned = drainQueue()
        return WorkerLoss(failed: failed, reassigned: reassigned, requeued: queue.count)
    }

    /// The worker running `request`, if it has started.
    public func worker(running request: RequestID) -> WorkerID? {
        guard let worker = location[request], workers[worker]?.started.contains(request) == true else { return nil }
        return worker
    }

    /// Requests currently held by `worker` (assigned, started or not).
    public func requests(on worker: WorkerID) -> [RequestID] { workers[worker]?.assigned ?? [] }

    /// Requests in the front's queue, oldest first.
    public var queuedRequests: [RequestID] { Array(queue) }

    private func leastLoadedWorkerWithRoom() -> WorkerID? {
        var best: (id: WorkerID, load: Int)?
        for (id, worker) in workers where worker.assigned.count < worker.capacity {
            if best == nil || worker.assigned.count < best!.load
                || (worker.assigned.count == best!.load && id < best!.id)
            {
                best = (id, worker.assigned.count)
            }
        }
        return best?.id
    }

    private mutating func assign(_ request: RequestID, to worker: WorkerID) {
        workers[worker]?.assigned.append(request)
        location[request] = worker
    }

    private mutating func drainQueue() -> [Assignment] {
        var sent: [Assignment] = []
        while !queue.isEmpty, let worker = leastLoadedWorkerWithRoom() {
            let request = queue.removeFirst()
            queuedAt[request] = nil
            assign(request, to: worker)
            sent.append(Assignment(request: request, worker: worker))
        }
        return sent
    }
}
