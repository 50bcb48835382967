import Testing

@testable import Scheduling

typealias Assignment = DispatchStateMachine.Assignment

@Suite struct DispatchStateMachineTests {
    @Test func queuesUntilAWorkerIsReady() {
        var machine = DispatchStateMachine()
        #expect(machine.submit(1) == .queued)
        #expect(machine.submit(2) == .queued)
        #expect(machine.workerReady(0, capacity: 1) == [Assignment(request: 1, worker: 0)])
        #expect(machine.queued == 1)
        #expect(machine.completed(1) == [Assignment(request: 2, worker: 0)])
        #expect(machine.completed(2) == [])
        #expect(machine.inFlight == 0)
    }

    @Test func sendsToTheLeastLoadedWorkerAndHoldsNoMoreThanCapacity() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 2)
        _ = machine.workerReady(1, capacity: 2)
        #expect(machine.submit(1) == .send(Assignment(request: 1, worker: 0)))
        #expect(machine.submit(2) == .send(Assignment(request: 2, worker: 1)))
        #expect(machine.submit(3) == .send(Assignment(request: 3, worker: 0)))
        #expect(machine.submit(4) == .send(Assignment(request: 4, worker: 1)))
        #expect(machine.submit(5) == .queued)
        #expect(machine.completed(2) == [Assignment(request: 5, worker: 1)])
        #expect(machine.requests(on: 0) == [1, 3])
    }

    @Test func keepsFIFOOrderWhenTheQueueIsNotEmpty() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1)
        _ = machine.submit(2)
        // A slot frees: the queued request goes first, the new one waits behind it.
        #expect(machine.completed(1) == [Assignment(request: 2, worker: 0)])
        #expect(machine.submit(3) == .queued)
        #expect(machine.queuedRequests == [3])
    }

    @Test func admissionCountsQueuedAndAssigned() {
        var machine = DispatchStateMachine(admissionLimit: 3)
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1)
        _ = machine.submit(2)
        _ = machine.submit(3)
        #expect(machine.submit(4) == .rejected(limit: 3))
        _ = machine.completed(1)
        #expect(machine.submit(4) == .queued)
    }

    @Test func aDeadWorkersStartedRequestsFailAndTheOthersMoveOn() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 3)
        _ = machine.workerReady(1, capacity: 1)
        for id: RequestID in 1...6 { _ = machine.submit(id) }
        // worker 0 holds 1, 3, 4 (least loaded first); worker 1 holds 2; 5 and 6 queue.
        #expect(machine.requests(on: 0) == [1, 3, 4])
        machine.started(1)
        let loss = machine.workerLost(0)
        #expect(loss.failed == [1])
        #expect(loss.reassigned == [])
        #expect(loss.requeued == 4)
        #expect(machine.queuedRequests == [3, 4, 5, 6])
        #expect(machine.completed(2) == [Assignment(request: 3, worker: 1)])
        #expect(machine.workerReady(0, capacity: 3).map(\.request) == [4, 5, 6])
    }

    @Test func cancellation() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 2)
        _ = machine.submit(1)
        _ = machine.submit(2)
        _ = machine.submit(3)
        #expect(machine.cancel(3) == .removedFromQueue)
        machine.started(1)
        #expect(machine.cancel(1) == .running(0))
        #expect(machine.worker(running: 1) == 0)
        #expect(machine.worker(running: 2) == nil)
        _ = machine.submit(4)
        #expect(machine.cancel(2) == .cancelOnWorker(0, next: [Assignment(request: 4, worker: 0)]))
        #expect(machine.cancel(99) == .unknown)
        #expect(machine.inFlight == 2)
    }

    @Test func randomOperationsNeverLoseOrDuplicateRequests() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var machine = DispatchStateMachine(admissionLimit: 20)
            var live: Set<RequestID> = []
            var finished: Set<RequestID> = []
            var next: RequestID = 1
            var workersUp: Set<WorkerID> = []
            for _ in 0..<300 {
                switch Int.random(in: 0..<6, using: &generator) {
                case 0, 1:
                    if case .rejected = machine.submit(next) {} else { live.insert(next) }
                    next += 1
                case 2:
                    if let request = live.randomElement(using: &generator) {
                        if case .running = machine.cancel(request) {
                        } else {
                            live.remove(request)
                            finished.insert(request)
                        }
                    }
                case 3:
                    let worker = Int.random(in: 0..<3, using: &generator)
                    if workersUp.contains(worker) {
                        let loss = machine.workerLost(worker)
                        for request in loss.failed {
                            live.remove(request)
                            finished.insert(request)
                        }
                        workersUp.remove(worker)
                    } else {
                        _ = machine.workerReady(worker, capacity: Int.random(in: 1...3, using: &generator))
                        workersUp.insert(worker)
                    }
                case 4:
                    if let worker = workersUp.randomElement(using: &generator),
                        let request = machine.requests(on: worker).randomElement(using: &generator)
                    {
                        machine.started(request)
                    }
                default:
                    if let worker = workersUp.randomElement(using: &generator),
                        let request = machine.requests(on: worker).first
                    {
                        _ = machine.completed(request)
                        live.remove(request)
                        finished.insert(request)
                    }
                }
                let held = workersUp.flatMap { machine.requests(on: $0) } + machine.queuedRequests
                #expect(Set(held) == live)
                #expect(held.count == live.count)
                #expect(machine.inFlight == live.count)
                for worker in workersUp {
                    // With a ready worker that has room, nothing waits in the queue.
                    _ = worker
                }
            }
        }
    }
}

@Suite struct StrandedRequestTests {
    @Test func queuedRequestsExpireOnlyWhileNoWorkerIsReady() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.submit(1, now: 0)
        #expect(machine.submit(2, now: 0) == .queued)
        // A ready (busy) worker: nothing is stranded, however long it waits.
        #expect(machine.expireStranded(now: 100, maxWait: 10) == [])
        // The worker dies at t=100 with request 1 unstarted: it goes back to the queue.
        let loss = machine.workerLost(0, now: 100)
        #expect(loss.requeued == 2)
        #expect(machine.expireStranded(now: 109.9, maxWait: 10) == [])
        #expect(machine.submit(3, now: 105) == .queued)
        #expect(machine.expireStranded(now: 110, maxWait: 10) == [1, 2])
        #expect(machine.expireStranded(now: 114.9, maxWait: 10) == [])
        #expect(machine.expireStranded(now: 115, maxWait: 10) == [3])
        #expect(machine.inFlight == 0)
    }

    @Test func aWorkerComingBackTakesTheQueueAndStopsTheClock() {
        var machine = DispatchStateMachine()
        _ = machine.workerReady(0, capacity: 1)
        _ = machine.workerLost(0, now: 0)
        _ = machine.submit(1, now: 1)
        #expect(machine.workerReady(0, capacity: 1) == [Assignment(request: 1, worker: 0)])
        _ = machine.submit(2, now: 2)
        #expect(machine.expireStranded(now: 50, maxWait: 10) == [])
        // Cancelled requests are not reported as stranded later.
        _ = machine.workerLost(0, now: 50)
        #expect(machine.cancel(2) == .removedFromQueue)
        #expect(machine.expireStranded(now: 70, maxWait: 10) == [1])
    }

    @Test func beforeAnyWorkerEverStartedTheWaitCountsFromSubmission() {
        var machine = DispatchStateMachine()
        _ = machine.submit(1, now: 5)
        #expect(machine.expireStranded(now: 14, maxWait: 10) == [])
        #expect(machine.expireStranded(now: 15, maxWait: 10) == [1])
    }
}
