import Synchronization
import Workers

/// One API as the front serves it.
public struct ServedAPI: Sendable {
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

/// An API and, once it is created, its worker pool. The pool is attached once and read on every
/// request without a lock.
public final class RegisteredAPI: Sendable {
    public let api: ServedAPI
    private let attachedPool = AtomicLazyReference<WorkerPool>()

    init(_ api: ServedAPI) {
        self.api = api
    }

    /// The API's worker pool; nil until the pools are created (the front binds before them).
    public var pool: WorkerPool? { attachedPool.load() }

    func attach(_ pool: WorkerPool) {
        _ = attachedPool.storeIfNil(pool)
    }
}

/// The APIs of one `cortex serve` and their worker pools, which attach once they are created.
public final class APIRegistry: Sendable {
    public let apis: [String: RegisteredAPI]
    /// Names in config order.
    public let order: [String]
    private let modelMetadata = Mutex<[String: String]>([:])
    private let draining = Atomic<Bool>(false)

    public init(apis: [ServedAPI]) {
        self.apis = Dictionary(uniqueKeysWithValues: apis.map { ($0.name, RegisteredAPI($0)) })
        self.order = apis.map(\.name)
    }

    public func attach(_ pool: WorkerPool, to api: String) {
        apis[api]?.attach(pool)
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

    /// APIs whose workers are not all ready, with `ready/total` counts.
    public func notReady() -> [(api: String, ready: Int, total: Int)] {
        order.compactMap { name in
            guard let pool = pool(for: name) else { return (name, 0, 0) }
            let readiness = pool.readiness
            return readiness.isReady ? nil : (name, readiness.ready, readiness.total)
        }
    }
}
