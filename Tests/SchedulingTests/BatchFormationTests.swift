import Testing

@testable import Scheduling

/// `BatchPolicy` and `DispatchStateMachine` with batching: when batches leave the front's queue and
/// what they hold.
@Suite struct BatchFormationTests {
    struct DueCase: Sendable, CustomTestStringConvertible {
        var policy: BatchPolicy
        var queued: Int
        var waited: Double
        var due: Bool
        var testDescription: String {
            "max \(policy.maxBatchSize) interval \(policy.interval.map { "\($0)" } ?? "adaptive"): \(queued) queued, oldest waited \(waited)s → \(due)"
        }
    }

    static let dueCases: [DueCase] = [
        // Adaptive: anything queued goes at once.
        DueCase(policy: BatchPolicy(maxBatchSize: 8, interval: nil), queued: 0, waited: 0, due: false),
        DueCase(policy: BatchPolicy(maxBatchSize: 8, interval: nil), queued: 1, waited: 0, due: true),
        DueCase(policy: BatchPolicy(maxBatchSize: 8, interval: nil), queued: 20, waited: 0, due: true),
        // Fixed interval: full, or the oldest has waited the interval.
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 3, waited: 0.005, due: false),
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 4, waited: 0, due: true),
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 9, waited: 0, due: true),
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 1, waited: 0.01, due: true),
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 1, waited: 0.0099995, due: true),
        DueCase(policy: BatchPolicy(maxBatchSize: 4, interval: 0.01), queued: 1, waited: 0.0098, due: false),
        DueCase(policy: BatchPolicy(maxBatchSize: 1, interval: 5), queued: 1, waited: 0, due: true),
    ]

    @Test(arguments: dueCases) func whenABatchIsDue(_ c: DueCase) {
        #expect(c.policy.isDue(queued: c.queued, oldestSince: 100, now: 100 + c.waited) == c.due)
    }

    @Test func adaptiveSendsASingleRequestAtOnceWhenAWorkerIsFree() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 4, interval: nil))
        _ = machine.workerReady(0, capacity: 1)
        #expect(machine.submit(1, now: 0) == .batched([Assignment(batch: [1], worker: 0)]))
        // The worker is busy: requests queue, and all of them (up to 4) go when it answers.
        for id: RequestID in 2...7 { #expect(machine.submit(id, now: 0) == .queued) }
        #expect(machine.nextBatchDeadline == nil)
        #expect(machine.completed(1, now: 1) == [Assignment(batch: [2, 3, 4, 5], worker: 0)])
        // A batch holds its slot until every one of its requests is answered.
        #expect(machine.completed(2, now: 1) == [])
        #expect(machine.completed(3, now: 1) == [])
        #expect(machine.completed(4, now: 1) == [])
        #expect(machine.completed(5, now: 1) == [Assignment(batch: [6, 7], worker: 0)])
        #expect(machine.inFlight == 2)
    }

    @Test func fixedIntervalWaitsForTheBatchToFillOrTheOldestToWaitTheInterval() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 3, interval: 0.010))
        _ = machine.workerReady(0, capacity: 1)
        #expect(machine.submit(1, now: 1.000) == .queued)
        #expect(machine.nextBatchDeadline == 1.010)
        #expect(machine.submit(2, now: 1.004) == .queued)
        #expect(machine.flushDue(now: 1.005) == [])
        #expect(machine.flushDue(now: 1.010) == [Assignment(batch: [1, 2], worker: 0)])
        // Full: leaves at once, even before the interval.
        _ = machine.workerReady(1, capacity: 1)
        #expect(machine.submit(3, now: 1.011) == .queued)
        #expect(machine.submit(4, now: 1.012) == .queued)
        #expect(machine.submit(5, now: 1.013) == .batched([Assignment(batch: [3, 4, 5], worker: 1)]))
        // No worker has room: no deadline; the slot freeing sends what is due.
        #expect(machine.submit(6, now: 1.014) == .queued)
        #expect(machine.nextBatchDeadline == nil)
        #expect(machine.completed(1, now: 1.020) == [])
        #expect(machine.completed(2, now: 1.021) == [])
        #expect(machine.nextBatchDeadline == 1.024)
        #expect(machine.flushDue(now: 1.024) == [Assignment(batch: [6], worker: 0)])
    }

    @Test func aWithdrawnRequestIsNotInItsBatch() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 4, interval: 0.010))
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1, now: 0)
        _ = machine.submit(2, now: 0)
        _ = machine.submit(3, now: 0)
        #expect(machine.cancel(2, now: 0.001) == .removedFromQueue)
        #expect(machine.flushDue(now: 0.010) == [Assignment(batch: [1, 3], worker: 0)])
        // Sent but not started: the worker is told; the batch keeps its slot for request 1.
        #expect(machine.cancel(3, now: 0.011) == .cancelOnWorker(0, next: []))
        _ = machine.submit(4, now: 0.011)
        #expect(machine.flushDue(now: 0.030) == [])
        #expect(machine.completed(1, now: 0.031) == [Assignment(batch: [4], worker: 0)])
    }

    @Test func aWorkerKilledMidBatchFailsExactlyThatBatch() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 3, interval: nil))
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.workerReady(1, capacity: 1)
        #expect(machine.submit(1, now: 0) == .batched([Assignment(batch: [1], worker: 0)]))
        #expect(machine.submit(2, now: 0) == .batched([Assignment(batch: [2], worker: 1)]))
        for id: RequestID in 3...5 { _ = machine.submit(id, now: 0) }
        #expect(machine.completed(1, now: 0) == [Assignment(batch: [3, 4, 5], worker: 0)])
        for id: RequestID in 3...5 { machine.started(id) }
        _ = machine.submit(6, now: 0)
        let loss = machine.workerLost(0, now: 1)
        #expect(loss.failed == [3, 4, 5])
        #expect(loss.reassigned == [])
        #expect(machine.queuedRequests == [6])
        #expect(machine.completed(2, now: 1) == [Assignment(batch: [6], worker: 1)])
    }

    @Test func unstartedRequestsOfALostWorkerGoOutAgainWithoutWaitingAnotherInterval() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 2, interval: 0.5))
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1, now: 0)
        #expect(machine.submit(2, now: 0) == .batched([Assignment(batch: [1, 2], worker: 0)]))
        _ = machine.workerReady(1, capacity: 1)
        let loss = machine.workerLost(0, now: 10)
        #expect(loss.failed == [])
        #expect(loss.reassigned == [Assignment(batch: [1, 2], worker: 1)])
    }

    @Test func threadsMeanSeveralBatchesPerWorker() {
        var machine = DispatchStateMachine(batching: BatchPolicy(maxBatchSize: 2, interval: nil))
        _ = machine.workerReady(0, capacity: 2)
        #expect(machine.submit(1, now: 0) == .batched([Assignment(batch: [1], worker: 0)]))
        #expect(machine.submit(2, now: 0) == .batched([Assignment(batch: [2], worker: 0)]))
        #expect(machine.submit(3, now: 0) == .queued)
        #expect(machine.submit(4, now: 0) == .queued)
        #expect(machine.submit(5, now: 0) == .queued)
        #expect(machine.completed(2, now: 0) == [Assignment(batch: [3, 4], worker: 0)])
    }

    @Test func admissionCountsEveryRequestNotBatches() {
        var machine = DispatchStateMachine(admissionLimit: 3, batching: BatchPolicy(maxBatchSize: 8, interval: nil))
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1, now: 0)
        _ = machine.submit(2, now: 0)
        _ = machine.submit(3, now: 0)
        #expect(machine.submit(4, now: 0) == .rejected(limit: 3))
    }

    /// Random submits, cancels, starts, answers, worker losses and clock steps: every request is held
    /// exactly once (queue or one worker) until it finishes, batches respect `maxBatchSize` and hold
    /// only queued requests, a worker never holds more batches than its capacity, and a ready worker
    /// with room never leaves a due batch in the queue.
    @Test(arguments: [nil, 0.0, 0.003, 0.02] as [Double?])
    func randomOperationsNeverLoseOrDuplicateRequests(interval: Double?) {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<150 {
            let maxBatch = Int.random(in: 1...5, using: &generator)
            var machine = DispatchStateMachine(
                admissionLimit: 30, batching: BatchPolicy(maxBatchSize: maxBatch, interval: interval))
            var live: Set<RequestID> = []
            var queued: Set<RequestID> = []
            var onWorker: [RequestID: WorkerID] = [:]
            var started: Set<RequestID> = []
            var sentEver: [RequestID: Int] = [:]
            var next: RequestID = 1
            var now = 0.0
            var workersUp: [WorkerID: Int] = [:]

            func apply(_ assignments: [DispatchStateMachine.Assignment]) {
                for assignment in assignments {
                    #expect(assignment.isBatch)
                    #expect(!assignment.requests.isEmpty && assignment.requests.count <= maxBatch)
                    #expect(workersUp[assignment.worker] != nil)
                    for request in assignment.requests {
                        #expect(queued.remove(request) != nil, "batched a request that was not queued")
                        onWorker[request] = assignment.worker
                        sentEver[request, default: 0] += 1
                    }
                }
            }
            func finish(_ request: RequestID) {
                live.remove(request)
                queued.remove(request)
                onWorker[request] = nil
                started.remove(request)
            }

            for _ in 0..<300 {
                let op = Int.random(in: 0..<8, using: &generator)
                switch op {
                case 0, 1:
                    switch machine.submit(next, now: now) {
                    case .rejected: break
                    case .queued:
                        live.insert(next)
                        queued.insert(next)
                    case .batched(let sent):
                        live.insert(next)
                        queued.insert(next)
                        apply(sent)
                    case .send:
                        Issue.record("a batching machine sent a lone request")
                    }
                    next += 1
                case 2:
                    if let request = live.randomElement(using: &generator) {
                        switch machine.cancel(request, now: now) {
                        case .running: #expect(started.contains(request))
                        case .removedFromQueue:
                            #expect(queued.contains(request))
                            finish(request)
                        case .cancelOnWorker(let worker, let sent):
                            #expect(onWorker[request] == worker && !started.contains(request))
                            finish(request)
                            apply(sent)
                        case .unknown: Issue.record("a live request was unknown")
                        }
                    }
                case 3:
                    let worker = Int.random(in: 0..<3, using: &generator)
                    if workersUp[worker] != nil {
                        let held = onWorker.filter { $0.value == worker }.map(\.key)
                        let loss = machine.workerLost(worker, now: now)
                        workersUp[worker] = nil
                        #expect(Set(loss.failed) == Set(held.filter { started.contains($0) }))
                        let unstarted = held.filter { !started.contains($0) }
                        for request in loss.failed { finish(request) }
                        for request in unstarted {
                            onWorker[request] = nil
                            queued.insert(request)
                        }
                        apply(loss.reassigned)
                    } else {
                        let capacity = Int.random(in: 1...3, using: &generator)
                        workersUp[worker] = capacity
                        apply(machine.workerReady(worker, capacity: capacity, now: now))
                    }
                case 4:
                    // The worker starts a whole batch at once: pick one request, start its batch-mates too.
                    if let (request, worker) = onWorker.randomElement(using: &generator) {
                        for (other, w) in onWorker where w == worker && !started.contains(other) {
                            machine.started(other)
                            started.insert(other)
                        }
                        _ = request
                    }
                case 5:
                    now += Double.random(in: 0...0.01, using: &generator)
                    apply(machine.flushDue(now: now))
                default:
                    if let request = onWorker.keys.randomElement(using: &generator) {
                        let sent = machine.completed(request, now: now)
                        finish(request)
                        apply(sent)
                    }
                }
                let held = workersUp.keys.flatMap { machine.requests(on: $0) } + machine.queuedRequests
                #expect(Set(held) == live)
                #expect(held.count == live.count)
                #expect(Set(machine.queuedRequests) == queued, "after op \(op)")
                #expect(machine.inFlight == live.count)
                // Nothing due is left waiting while a worker has room.
                if let deadline = machine.nextBatchDeadline { #expect(deadline > now - 1e-6) }
                if interval == nil, !queued.isEmpty {
                    for (worker, capacity) in workersUp {
                        let batches = Set(onWorker.filter { $0.value == worker }.map(\.key)).count
                        #expect(batches >= 1 || capacity == 0, "adaptive left requests queued beside an idle worker")
                    }
                }
            }
            // A request goes out more than once only after its worker was lost before starting it.
            #expect(sentEver.values.allSatisfy { $0 >= 1 })
        }
    }
}
