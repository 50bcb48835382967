import Testing

@testable import Scheduling

@Suite struct RespawnPolicyTests {
    /// (exit, expected delay) in sequence, starting from a fresh policy (initial 0.1 s, max 1 s, settle 5 s).
    static let sequences: [(name: String, steps: [(WorkerExit, Double)])] = [
        (
            "crash loop before READY doubles up to the maximum",
            [
                (WorkerExit(secondsReady: nil, served: 0), 0.1),
                (WorkerExit(secondsReady: nil, served: 0), 0.2),
                (WorkerExit(secondsReady: nil, served: 0), 0.4),
                (WorkerExit(secondsReady: nil, served: 0), 0.8),
                (WorkerExit(secondsReady: nil, served: 0), 1),
                (WorkerExit(secondsReady: nil, served: 0), 1),
            ]
        ),
        (
            "a worker that served is respawned at once, every time",
            [
                (WorkerExit(secondsReady: 0.2, served: 1), 0),
                (WorkerExit(secondsReady: 0.1, served: 3), 0),
                (WorkerExit(secondsReady: 0.05, served: 1), 0),
            ]
        ),
        (
            "dying right after READY without serving is a crash loop",
            [
                (WorkerExit(secondsReady: 0.01, served: 0), 0.1),
                (WorkerExit(secondsReady: 0.5, served: 0), 0.2),
            ]
        ),
        (
            "a healthy exit resets the back-off",
            [
                (WorkerExit(secondsReady: nil, served: 0), 0.1),
                (WorkerExit(secondsReady: nil, served: 0), 0.2),
                (WorkerExit(secondsReady: 1, served: 10), 0),
                (WorkerExit(secondsReady: nil, served: 0), 0.1),
            ]
        ),
        (
            "a ready worker that stayed up past the settle time is healthy even with no traffic",
            [
                (WorkerExit(secondsReady: nil, served: 0), 0.1),
                (WorkerExit(secondsReady: 6, served: 0), 0),
                (WorkerExit(secondsReady: 4.9, served: 0), 0.1),
            ]
        ),
    ]

    @Test(arguments: sequences.indices)
    func delays(_ index: Int) {
        var policy = RespawnPolicy(initialDelay: 0.1, maximumDelay: 1, settleTime: 5)
        for (step, (exit, expected)) in Self.sequences[index].steps.enumerated() {
            #expect(policy.delay(after: exit) == expected, "\(Self.sequences[index].name), step \(step)")
        }
    }

    @Test func neverAboveTheMaximumAndNeverNegative() {
        var policy = RespawnPolicy(initialDelay: 0.1, maximumDelay: 10, settleTime: 5)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let exit = WorkerExit(
                secondsReady: Bool.random(using: &random) ? nil : Double.random(in: 0..<10, using: &random),
                served: Int.random(in: 0..<3, using: &random))
            let delay = policy.delay(after: exit)
            #expect(delay >= 0 && delay <= 10)
            #expect((delay == 0) == !policy.isCrashLoop(exit))
        }
    }
}

@Suite struct WorkerPoolStateMachineTests {
    @Test func startsOnceEveryWorkerIsReady() {
        var pool = WorkerPoolStateMachine(workers: 2)
        #expect(pool.phase == .starting)
        #expect(pool.spawning(0) == true)
        #expect(pool.spawning(1) == true)
        #expect(pool.connected(0) == true)
        #expect(pool.connected(1) == true)
        #expect(pool.ready(0, now: 1) == .accepted)
        #expect(pool.phase == .starting)
        #expect(pool.ready(1, now: 1) == .startupComplete)
        #expect(pool.phase == .ready)
        #expect(pool.readyCount == 2)
    }

    @Test func aWorkerDyingDuringTheFirstStartFailsIt() {
        var pool = WorkerPoolStateMachine(workers: 2)
        _ = pool.spawning(0)
        _ = pool.spawning(1)
        #expect(pool.exited(0, now: 1) == .failStartup)
        #expect(pool.phase == .draining)
        // Nothing is spawned after a failed start; the other worker's exit just stops.
        #expect(pool.spawning(0) == false)
        #expect(pool.exited(1, now: 1) == .stop)
        #expect(pool.phase == .stopped)
    }

    @Test func aServedWorkerIsRespawnedAtOnceAndACrashLoopBacksOff() {
        var pool = WorkerPoolStateMachine(workers: 1, policy: RespawnPolicy(initialDelay: 0.1, maximumDelay: 10))
        _ = pool.spawning(0)
        _ = pool.connected(0)
        #expect(pool.ready(0, now: 0) == .startupComplete)
        pool.served(0)
        #expect(pool.exited(0, now: 1) == .respawn(after: 0))
        #expect(pool.phase == .respawning)
        #expect(pool.phase(of: 0) == .waitingToRespawn)
        #expect(pool.spawning(0) == true)
        #expect(pool.exited(0, now: 2) == .respawn(after: 0.1))
        #expect(pool.spawning(0) == true)
        #expect(pool.exited(0, now: 3) == .respawn(after: 0.2))
        #expect(pool.spawning(0) == true)
        _ = pool.connected(0)
        #expect(pool.ready(0, now: 4) == .accepted)
        #expect(pool.phase == .ready)
    }

    @Test func drainingStopsRespawnsAndEndsStoppedOnceAllExited() {
        var pool = WorkerPoolStateMachine(workers: 2)
        for worker in 0..<2 {
            _ = pool.spawning(worker)
            _ = pool.connected(worker)
            _ = pool.ready(worker, now: 0)
        }
        pool.served(0)
        #expect(pool.exited(0, now: 1) == .respawn(after: 0))
        #expect(pool.beginDraining() == true)
        #expect(pool.beginDraining() == false)
        #expect(pool.phase == .draining)
        // The respawn that was due never happens.
        #expect(pool.spawning(0) == false)
        #expect(pool.exited(1, now: 2) == .stop)
        #expect(pool.phase == .stopped)
    }

    @Test func readyAndConnectionsOutOfOrderAreIgnored() {
        var pool = WorkerPoolStateMachine(workers: 1)
        #expect(pool.connected(0) == false)
        #expect(pool.ready(0, now: 0) == .ignored)
        #expect(pool.connected(5) == false)
        _ = pool.spawning(0)
        #expect(pool.ready(0, now: 0) == .ignored)
        _ = pool.connected(0)
        _ = pool.beginDraining()
        #expect(pool.ready(0, now: 0) == .ignored)
    }

    /// Random event sequences: the phase is always consistent with the slots, and nothing is spawned
    /// once draining began.
    @Test func randomSequencesKeepTheInvariants() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var pool = WorkerPoolStateMachine(workers: 3)
            var drained = false
            var now = 0.0
            for _ in 0..<60 {
                now += 0.1
                let worker = Int.random(in: 0..<3, using: &random)
                switch Int.random(in: 0..<7, using: &random) {
                case 0:
                    let spawned = pool.spawning(worker)
                    #expect(!(spawned && drained))
                case 1: _ = pool.connected(worker)
                case 2: _ = pool.ready(worker, now: now)
                case 3: pool.served(worker)
                case 4 where pool.phase(of: worker) != .exited && pool.phase(of: worker) != .waitingToRespawn:
                    let action = pool.exited(worker, now: now)
                    if drained { #expect(action == .stop) }
                case 5 where Int.random(in: 0..<10, using: &random) == 0:
                    _ = pool.beginDraining()
                    drained = true
                default: break
                }
                #expect(pool.readyCount <= 3)
                if drained { #expect(pool.phase == .draining || pool.phase == .stopped) }
            }
        }
    }
}
