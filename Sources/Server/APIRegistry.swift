import Logging
import Synchronization
import Workers

/// One API as the front serves it.
public struct ServedAPI: Sendable, Equatable {
    public var name: String
    public var endpoint: String
    /// `networking.max_request_size`: larger bodies get 413.
    public var maxRequestSize: Int
    /// `predictor.timeout` in seconds, if set.
    public var timeout: Double?

    public init(name: String, endpoint: String, maxRequestSize: Int, timeout: Double? = nil) {
        self.name = name
        self.endpoint = endpoint
        self.maxRequestSize = maxRequestSize
        self.timeout = timeout
    }
}

/// An API as one version of its config declares it, with what a request needs resolved once: its
/// replicas (which outlive config changes), a logger tagged with its name, and its request metrics.
public final class RegisteredAPI: Sendable {
    public let api: ServedAPI
    public let replicas: ReplicaSet
    let logger: Logger
    public let metrics: APIMetrics

    init(_ api: ServedAPI, replicas: ReplicaSet, metrics: APIMetrics, logger: Logger) {
        self.api = api
        self.replicas = replicas
        self.metrics = metrics
        var tagged = logger
        tagged[metadataKey: "api"] = .string(api.name)
        self.logger = tagged
    }

    /// The API's first replica (`cortex serve` runs one); nil until its pool is created.
    public var pool: WorkerPool? { replicas.pools.first }
}

/// The APIs the front serves and their replicas. `cortex serve` registers them once; the operator
/// adds, changes and removes them while serving. Connections read an immutable `Routing` snapshot,
/// and reload it only when `version` has moved, so the request path takes no lock for it.
public final class APIRegistry: Sendable {
    /// Everything routing needs, immutable: replaced as a whole on every change.
    public final class Routing: Sendable {
        public let apis: [String: RegisteredAPI]
        /// Names in config (or deploy) order.
        public let order: [String]
        /// The main port's routes.
        let routes: RouteTable

        init(apis: [RegisteredAPI]) {
            self.apis = Dictionary(uniqueKeysWithValues: apis.map { ($0.api.name, $0) })
            self.order = apis.map(\.api.name)
            self.routes = RouteTable(endpoints: apis.map { ($0.api.name, $0.api.endpoint) })
        }
    }

    private let current: Mutex<Routing>
    private let changes = Atomic<Int>(0)
    private let logger: Logger
    private let modelMetadata = Mutex<[String: String]>([:])
    private let draining = Atomic<Bool>(false)

    public init(apis: [ServedAPI], logger: Logger = Logger(label: "cortex")) {
        self.logger = logger
        self.current = Mutex(
            Routing(
                apis: apis.map {
                    RegisteredAPI($0, replicas: ReplicaSet(), metrics: APIMetrics(api: $0.name), logger: logger)
                }))
    }

    /// The routing now.
    public var routing: Routing { current.withLock { $0 } }

    /// Moves on every change of `routing`.
    var version: Int { changes.load(ordering: .acquiring) }

    /// Every API now, by name.
    public var apis: [String: RegisteredAPI] { routing.apis }

    /// Names in order.
    public var order: [String] { routing.order }

    /// Adds an API, or replaces its declaration (endpoint, limits) while keeping its replicas and
    /// metrics; returns it.
    @discardableResult
    public func upsert(_ api: ServedAPI) -> RegisteredAPI {
        current.withLock { routing in
            var list = routing.order.compactMap { routing.apis[$0] }
            let previous = routing.apis[api.name]
            let registered = RegisteredAPI(
                api, replicas: previous?.replicas ?? ReplicaSet(),
                metrics: previous?.metrics ?? APIMetrics(api: api.name),
                logger: logger)
            if let index = list.firstIndex(where: { $0.api.name == api.name }) {
                list[index] = registered
            } else {
                list.append(registered)
            }
            routing = Routing(apis: list)
            changes.add(1, ordering: .releasing)
            return registered
        }
    }

    /// Removes an API from routing: its endpoint answers 404 from now on. Requests already accepted
    /// keep their replica.
    public func remove(_ name: String) {
        current.withLock { routing in
            routing = Routing(apis: routing.order.filter { $0 != name }.compactMap { routing.apis[$0] })
            changes.add(1, ordering: .releasing)
        }
        modelMetadata.withLock { $0[name] = nil }
    }

    public func attach(_ pool: WorkerPool, to api: String) {
        apis[api]?.replicas.add(pool)
    }

    public func pool(for api: String) -> WorkerPool? {
        apis[api]?.pool
    }

    /// Records the models and versions an API serves now (JSON object), shown by `GET` on its endpoint.
    public func setModelMetadata(_ json: String, for api: String) {
        modelMetadata.withLock { $0[api] = json }
    }

    /// The models an API serves now (a JSON object), if it has models.
    func modelMetadata(for api: String) -> String? {
        modelMetadata.withLock { $0[api] }
    }

    /// Set when a graceful shutdown begins: `/readyz` answers 503 from then on.
    public var isDraining: Bool {
        draining.load(ordering: .relaxed)
    }

    public func beginDraining() { draining.store(true, ordering: .relaxed) }

    /// APIs whose replicas are not all ready, with `ready/total` worker counts. An API scaled to zero
    /// that parks requests counts as ready (it answers once its first replica starts).
    public func notReady() -> [(api: String, ready: Int, total: Int)] {
        let routing = routing
        return routing.order.compactMap { name in
            guard let replicas = routing.apis[name]?.replicas else { return nil }
            let pools = replicas.pools
            if pools.isEmpty { return replicas.acceptsRequests ? nil : (name, 0, 0) }
            let counts = pools.map(\.readiness)
            let ready = counts.map(\.ready).reduce(0, +)
            let total = counts.map(\.total).reduce(0, +)
            return counts.allSatisfy(\.isReady) ? nil : (name, ready, total)
        }
    }
}
