/// The lifecycle of one API's worker pool: pure state, no I/O; the caller performs the actions.
///
/// ```
/// starting ──all READY──▶ ready ◀──worker READY again── respawning
///    │                      │ worker exits ─────────────▶ │
///    │ a worker exits       └──────── drain ───────────▶ draining ──all exited──▶ stopped
///    └──▶ (startup failed) ──────────── drain ─────────────▲
/// ```
///
/// Each worker slot goes `spawning → connected → ready → exited`, then `waitingToRespawn` (for the
/// delay `RespawnPolicy` gives) and `spawning` again — except while draining, when nothing is
/// spawned any more, so a respawn can never race a shutdown.
public struct WorkerPoolStateMachine: Sendable {
    public enum Phase: Sendable, Equatable {
        /// Workers are starting for the first time; none has failed.
        case starting
        /// Every worker is ready.
        case ready
        /// Started once; at least one worker is down or coming back.
        case respawning
        /// Stopping: workers finish what they hold and exit; none is spawned.
        case draining
        /// Every worker has exited after a drain.
        case stopped
    }

    public enum SlotPhase: Sendable, Equatable {
        case spawning, connected, ready, waitingToRespawn, exited
    }

    /// What a worker's `READY` means for the pool.
    public enum ReadyOutcome: Sendable, Equatable {
        /// The worker takes requests now.
        case accepted
        /// ...and it was the last of the first start: the pool is up.
        case startupComplete
        /// Not expected (not connected, or draining): ignore it.
        case ignored
    }

    /// What to do after a worker process exited.
    public enum ExitAction: Sendable, Equatable {
        /// It died during the first start: the pool cannot start (the caller reports why and drains).
        case failStartup
        /// Spawn it again after this many seconds.
        case respawn(after: Double)
        /// Draining: leave the slot empty.
        case stop
    }

    struct Slot: Sendable {
        var phase: SlotPhase = .exited
        var readyAt: Double?
        var served = 0
        var policy: RespawnPolicy
    }

    private var slots: [Slot]
    private var draining = false
    private var started = false
    private var failed = false

    public init(workers: Int, policy: RespawnPolicy = RespawnPolicy()) {
        slots = Array(repeating: Slot(policy: policy), count: max(1, workers))
    }

    public var workers: Int { slots.count }

    public var phase: Phase {
        if draining || failed { return slots.allSatisfy { $0.phase == .exited } ? .stopped : .draining }
        if !started { return .starting }
        return readyCount == slots.count ? .ready : .respawning
    }

    public func phase(of worker: Int) -> SlotPhase { slots[worker].phase }

    public var readyCount: Int { slots.count { $0.phase == .ready } }

    /// The supervisor of `worker` is about to start its process. Returns false (start nothing) while
    /// draining or after a failed start.
    public mutating func spawning(_ worker: Int) -> Bool {
        guard !draining, !failed, slots[worker].phase != .spawning else { return false }
        slots[worker].phase = .spawning
        slots[worker].readyAt = nil
        slots[worker].served = 0
        return true
    }

    /// The worker's process opened its socket. Returns false when the connection is not expected.
    public mutating func connected(_ worker: Int) -> Bool {
        guard slots.indices.contains(worker), slots[worker].phase == .spawning else { return false }
        slots[worker].phase = .connected
        return true
    }

    /// The worker constructed its predictor (`READY`).
    public mutating func ready(_ worker: Int, now: Double) -> ReadyOutcome {
        guard slots.indices.contains(worker), slots[worker].phase == .connected, !draining, !failed else {
            return .ignored
        }
        slots[worker].phase = .ready
        slots[worker].readyAt = now
        if !started, readyCount == slots.count {
            started = true
            return .startupComplete
        }
        return .accepted
    }

    /// The worker answered a request.
    public mutating func served(_ worker: Int) {
        guard slots.indices.contains(worker) else { return }
        slots[worker].served += 1
    }

    /// The worker's connection broke: it takes no more requests (its process is ended by the caller).
    public mutating func disconnected(_ worker: Int) {
        guard slots.indices.contains(worker), slots[worker].phase == .connected || slots[worker].phase == .ready
        else { return }
        slots[worker].phase = .spawning
    }

    /// The worker's process exited at `now`.
    public mutating func exited(_ worker: Int, now: Double) -> ExitAction {
        let exit = WorkerExit(secondsReady: slots[worker].readyAt.map { now - $0 }, served: slots[worker].served)
        slots[worker].phase = .exited
        slots[worker].readyAt = nil
        if draining || failed { return .stop }
        if !started {
            failed = true
            return .failStartup
        }
        slots[worker].phase = .waitingToRespawn
        return .respawn(after: slots[worker].policy.delay(after: exit))
    }

    /// Begins stopping. Returns false if it had already begun.
    public mutating func beginDraining() -> Bool {
        defer { draining = true }
        for index in slots.indices where slots[index].phase == .waitingToRespawn { slots[index].phase = .exited }
        return !draining
    }
}
