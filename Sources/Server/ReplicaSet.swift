import Logging
import NIOCore
import Scheduling
import Synchronization
import WorkerProtocol
import Workers

/// The replicas of one API — each a `WorkerPool` of `processes_per_replica` workers — that the front
/// balances across by least outstanding requests. `cortex serve` runs one replica per API; the
/// operator adds and removes them as it scales and rolls updates.
///
/// A request that finds no replica either gets 503 (the API is starting), or — for an API that may
/// scale to zero (`parksWhenEmpty`) — waits here, bounded by `parkingLimit`, until the first replica
/// is added, and `onDemand` is called so a controller starts one. A request refused by a replica that
/// began draining in the meantime (a scale-down or rolling update removed it) is sent to another one:
/// it never ran, so nothing is lost or run twice.
public final class ReplicaSet: Sendable {
    /// One replica and the requests the set has sent it that are not answered yet.
    final class Replica: Sendable {
        let pool: WorkerPool
        let outstanding = Atomic<Int>(0)
        init(_ pool: WorkerPool) { self.pool = pool }
    }

    /// A request waiting for the first replica of an API scaled to zero.
    struct Parked {
        var id: RequestID
        var meta: RequestMeta
        var body: ByteBuffer
        var client: (any ClientWatch)?
        var completion: WorkerPool.Completion
    }

    struct State {
        var replicas: [Replica] = []
        var parked: [Parked] = []
        var parksWhenEmpty = false
        var parkingLimit = 0
        var closed = false
        /// Where the next search for the least loaded replica starts, so ties rotate.
        var cursor = 0
    }

    private let state = Mutex(State())
    /// `acceptsRequests`, kept beside the state so the request path reads it without the lock.
    private let accepting = Atomic<Bool>(false)
    /// Called (outside the lock) when a request parks at zero replicas: start one.
    private let demand = Mutex<(@Sendable () -> Void)?>(nil)

    public init() {}

    /// Changes the membership or the parking rules, keeping `accepting` in step.
    private func changeMembership<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLock { state in
            defer {
                accepting.store(
                    !state.replicas.isEmpty || (state.parksWhenEmpty && !state.closed), ordering: .releasing)
            }
            return body(&state)
        }
    }

    // MARK: Membership

    /// Adds a ready replica: it takes new requests at once, and every parked request goes to it.
    public func add(_ pool: WorkerPool) {
        let parked = changeMembership { state -> [Parked] in
            state.replicas.append(Replica(pool))
            defer { state.parked.removeAll() }
            return state.parked
        }
        for request in parked {
            request.client?.unwatch()
            submit(
                id: request.id, meta: request.meta, body: request.body, client: request.client,
                completion: request.completion)
        }
    }

    /// Takes a replica out of rotation: no new request goes to it (the caller then drains it).
    public func remove(_ pool: WorkerPool) {
        changeMembership { state in state.replicas.removeAll { $0.pool === pool } }
    }

    /// The pools taking requests now, in the order they were added.
    public var pools: [WorkerPool] { state.withLock { $0.replicas.map(\.pool) } }

    /// Requests waiting for a first replica.
    public var parkedCount: Int { state.withLock { $0.parked.count } }

    /// Lets requests wait at zero replicas (up to `limit` of them) instead of getting 503, calling
    /// `onDemand` when one arrives. Turned off (a new config with `min_replicas` ≥ 1), requests already
    /// waiting keep waiting for the replica that config starts.
    public func parkWhenEmpty(_ enabled: Bool, limit: Int, onDemand: (@Sendable () -> Void)? = nil) {
        demand.withLock { $0 = onDemand }
        changeMembership { state in
            state.parksWhenEmpty = enabled
            state.parkingLimit = limit
        }
    }

    /// The API is gone: parked requests get 503, nothing parks any more.
    public func close() {
        let refused = changeMembership { state -> [Parked] in
            state.closed = true
            defer { state.parked.removeAll() }
            return state.parked
        }
        for request in refused { request.completion(.failure(DispatchError.shuttingDown)) }
    }

    // MARK: Requests

    /// Whether a request arriving now has somewhere to go (a replica, or a parking place).
    public var acceptsRequests: Bool { accepting.load(ordering: .acquiring) }

    /// Sends a request to the replica with the fewest outstanding requests (see
    /// `WorkerPool.submit(id:meta:body:client:completion:)` for the contract).
    public func submit(
        id: RequestID, meta: RequestMeta, body: ByteBuffer, client: (any ClientWatch)?,
        completion: @escaping WorkerPool.Completion
    ) {
        enum Route {
            case single(WorkerPool)
            case counted(Replica)
            case parked
            case refused(any Error)
        }
        let route = state.withLock { state -> Route in
            switch state.replicas.count {
            case 1:
                return .single(state.replicas[0].pool)
            case 0:
                guard state.parksWhenEmpty, !state.closed else { return .refused(DispatchError.shuttingDown) }
                guard state.parked.count < state.parkingLimit else {
                    return .refused(DispatchError.overloaded(limit: state.parkingLimit))
                }
                if let client, !client.watch({ [weak self] in self?.cancel(id) }) {
                    return .refused(CancellationError())
                }
                state.parked.append(Parked(id: id, meta: meta, body: body, client: client, completion: completion))
                return .parked
            default:
                // The fewest outstanding; ties go round-robin (a lone client still spreads over all).
                let count = state.replicas.count
                state.cursor = (state.cursor + 1) % count
                var best = state.replicas[state.cursor]
                var fewest = best.outstanding.load(ordering: .relaxed)
                for offset in 1..<count {
                    let replica = state.replicas[(state.cursor + offset) % count]
                    let load = replica.outstanding.load(ordering: .relaxed)
                    if load < fewest { (best, fewest) = (replica, load) }
                }
                best.outstanding.add(1, ordering: .relaxed)
                return .counted(best)
            }
        }
        switch route {
        case .single(let pool):
            pool.submit(id: id, meta: meta, body: body, client: client) { [weak self] result in
                self?.settle(result, from: pool, id: id, meta: meta, body: body, client: client, completion)
                    ?? completion(result)
            }
        case .counted(let replica):
            replica.pool.submit(id: id, meta: meta, body: body, client: client) { [weak self] result in
                replica.outstanding.subtract(1, ordering: .relaxed)
                self?.settle(result, from: replica.pool, id: id, meta: meta, body: body, client: client, completion)
                    ?? completion(result)
            }
        case .parked:
            demand.withLock { $0 }?()
        case .refused(let error):
            completion(.failure(error))
        }
    }

    /// Passes a replica's answer on — unless the replica refused the request because it began draining
    /// after it was chosen, and another replica takes requests: then it goes there (it never ran).
    private func settle(
        _ result: Result<WorkerResponse, any Error>, from pool: WorkerPool, id: RequestID, meta: RequestMeta,
        body: ByteBuffer, client: (any ClientWatch)?, _ completion: @escaping WorkerPool.Completion
    ) {
        if case .failure(DispatchError.shuttingDown) = result,
            state.withLock({ state in
                state.replicas.contains { $0.pool !== pool } || (state.parksWhenEmpty && !state.closed)
            })
        {
            client?.unwatch()
            submit(id: id, meta: meta, body: body, client: client, completion: completion)
        } else {
            completion(result)
        }
    }

    /// Withdraws a request (see `WorkerPool.cancel(_:killAfter:)`), wherever it is.
    public func cancel(_ id: RequestID, killAfter grace: Double? = nil) {
        let parked = state.withLock { state -> Parked? in
            guard let index = state.parked.firstIndex(where: { $0.id == id }) else { return nil }
            return state.parked.remove(at: index)
        }
        if let parked {
            parked.completion(.failure(CancellationError()))
            return
        }
        for pool in pools { pool.cancel(id, killAfter: grace) }
    }

    /// Requests held by the replicas (queued or running) plus those parked: the autoscaler's signal.
    public var inFlight: Int {
        let (pools, parked) = state.withLock { ($0.replicas.map(\.pool), $0.parked.count) }
        return pools.reduce(parked) { $0 + $1.inFlight }
    }
}
