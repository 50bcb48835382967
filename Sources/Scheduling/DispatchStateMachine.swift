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
/// With a `BatchPolicy` (a Python predictor with `server_side_batching`), a slot holds a batch instead
/// of a request: queued requests leave together when the policy says the batch is due, and a batch
/// keeps its slot until each of its requests is answered or withdrawn; everything else (admission,
/// `START`, withdrawal, worker loss) stays per request. The caller performs the actions each transition
/// returns.
public struct DispatchStateMachine: Sendable {
    /// Requests to write to a worker's socket: one `REQUEST` frame, or (with batching) one `BATCH`
    /// frame carrying every request of the batch, oldest first.
    public struct Assignment: Sendable, Equatable {
        public var requests: [RequestID]
        public var worker: WorkerID
        /// Sent as one `BATCH` frame (the API batches), even when it holds a single request.
        public var isBatch: Bool
        /// The first (with no batching: the only) request.
        public var request: RequestID { requests[0] }

        public init(request: RequestID, worker: WorkerID) {
            self.requests = [request]
            self.worker = worker
            self.isBatch = false
        }

        public init(batch: [RequestID], worker: WorkerID) {
            self.requests = batch
            self.worker = worker
            self.isBatch = true
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
        /// (Batching) It joined the queue, and these batches left it — one of them may hold it.
        case batched([Assignment])
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
        /// (Batching) batches it holds that still have a request not answered: its load.
        var batches: Set<UInt64> = []
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
    /// How batches are formed; `nil`: requests go one by one.
    public let batching: BatchPolicy?
    /// (Batching) the batch each assigned request belongs to, and how many of each batch's requests
    /// are still held by its worker.
    private var batchOf: [RequestID: UInt64] = [:]
    private var batchLeft: [UInt64: Int] = [:]
    private var nextBatch: UInt64 = 0

    /// - Parameter batching: with a policy, a worker's slots hold batches, not requests: queued
    ///   requests leave the queue together, as `BatchPolicy` decides.
    public init(admissionLimit: Int? = nil, batching: BatchPolicy? = nil) {
        self.admissionLimit = admissionLimit
        self.batching = batching
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
        if batching != nil {
            queue.append(request)
            queuedAt[request] = now
            let sent = drainQueue(now: now)
            return sent.isEmpty ? .queued : .batched(sent)
        }
        if queue.isEmpty, let worker = leastLoadedWorkerWithRoom() {
            assign(request, to: worker)
            return .send(Assignment(request: request, worker: worker))
        }
        queue.append(request)
        queuedAt[request] = now
        return .queued
    }

    /// (Batching with a fixed interval) When the oldest queued request's wait ends — the caller
    /// calls `flushDue(now:)` then. `nil` when nothing waits for time: the queue is empty, the mode
    /// is adaptive, or no worker has room (a slot freeing up sends the batch).
    public var nextBatchDeadline: Double? {
        guard let interval = batching?.interval, let first = queue.first, let since = queuedAt[first],
            leastLoadedWorkerWithRoom() != nil
        else { return nil }
        return since + interval
    }

    /// (Batching) Sends the batches that are due at `now` to workers with room.
    public mutating func flushDue(now: Double) -> [Assignment] {
        drainQueue(now: now)
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
    public mutating func completed(_ request: RequestID, now: Double = 0) -> [Assignment] {
        guard let worker = location.removeValue(forKey: request) else { return [] }
        workers[worker]?.assigned.removeAll { $0 == request }
        workers[worker]?.started.remove(request)
        release(request, on: worker)
        return drainQueue(now: now)
    }

    /// The request is no longer wanted.
    public mutating func cancel(_ request: RequestID, now: Double = 0) -> CancelAction {
        if queuedAt.removeValue(forKey: request) != nil, let index = queue.firstIndex(of: request) {
            queue.remove(at: index)
            return .removedFromQueue
        }
        guard let worker = location[request] else { return .unknown }
        if workers[worker]?.started.contains(request) == true { return .running(worker) }
        location[request] = nil
        workers[worker]?.assigned.removeAll { $0 == request }
        release(request, on: worker)
        return .cancelOnWorker(worker, next: drainQueue(now: now))
    }

    /// A worker is ready to take up to `capacity` requests. Returns queued requests sent to it.
    public mutating func workerReady(_ worker: WorkerID, capacity: Int, now: Double = 0) -> [Assignment] {
        workers[worker] = Worker(capacity: max(1, capacity))
        noWorkerSince = nil
        return drainQueue(now: now)
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
            if let batch = batchOf.removeValue(forKey: request) { batchLeft[batch] = nil }
            if state.started.contains(request) { failed.append(request) } else { unstarted.append(request) }
        }
        queue.insert(contentsOf: unstarted, at: 0)
        // Re-dispatched at once: they have waited for their batch already.
        let since = now - (batching?.interval ?? 0)
        for request in unstarted { queuedAt[request] = since }
        let reassigned = drainQueue(now: now)
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

    private func load(_ worker: Worker) -> Int {
        batching == nil ? worker.assigned.count : worker.batches.count
    }

    private func leastLoadedWorkerWithRoom() -> WorkerID? {
        var best: (id: WorkerID, load: Int)?
        for (id, worker) in workers {
            let load = load(worker)
            guard load < worker.capacity else { continue }
            if best == nil || load < best!.load || (load == best!.load && id < best!.id) {
                best = (id, load)
            }
        }
        return best?.id
    }

    private mutating func assign(_ request: RequestID, to worker: WorkerID) {
        workers[worker]?.assigned.append(request)
        location[request] = worker
    }

    /// (Batching) `request` no longer holds its batch's slot on `worker`.
    private mutating func release(_ request: RequestID, on worker: WorkerID) {
        guard let batch = batchOf.removeValue(forKey: request), let left = batchLeft[batch] else { return }
        if left <= 1 {
            batchLeft[batch] = nil
            workers[worker]?.batches.remove(batch)
        } else {
            batchLeft[batch] = left - 1
        }
    }

    private mutating func drainQueue(now: Double) -> [Assignment] {
        var sent: [Assignment] = []
        while !queue.isEmpty, let worker = leastLoadedWorkerWithRoom() {
            guard let policy = batching else {
                let request = queue.removeFirst()
                queuedAt[request] = nil
                assign(request, to: worker)
                sent.append(Assignment(request: request, worker: worker))
                continue
            }
            guard policy.isDue(queued: queue.count, oldestSince: queuedAt[queue[0]] ?? now, now: now) else { break }
            let batch = Array(queue.prefix(policy.maxBatchSize))
            queue.removeFirst(batch.count)
            let id = nextBatch
            nextBatch &+= 1
            for request in batch {
                queuedAt[request] = nil
                assign(request, to: worker)
                batchOf[request] = id
            }
            batchLeft[id] = batch.count
            workers[worker]?.batches.insert(id)
            sent.append(Assignment(batch: batch, worker: worker))
        }
        return sent
    }
}
