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

/// The APIs of one `cortex serve` and their worker pools, which attach once they are created.
public final class APIRegistry: Sendable {
    public let apis: [String: ServedAPI]
    /// Names in config order.
    public let order: [String]
    private let pools = Mutex<[String: WorkerPool]>([:])
    private let modelMetadata = Mutex<[String: String]>([:])
    private let draining = Atomic<Bool>(false)

    public init(apis: [ServedAPI]) {
        self.apis = Dictionary(uniqueKeysWithValues: apis.map { ($0.name, $0) })
        self.order = apis.map(\.name)
    }

    public func attach(_ pool: WorkerPool, to api: String) {
        pools.withLock { $0[api] = pool }
    }

    public func pool(for api: String) -> WorkerPool? {
        pools.withLock { $0[api] }
    }

    /// Records the models and versions an API serves now (JSON object), shown by `GET` on its endpoint.
    public func setModelMetadata(_ json: String, for api: String) {
        modelMetadata.withLock { $0[api] = json }
    }

    /// The JSON a `GET` on the API's endpoint answers.
    public func summary(for api: String) -> String {
        let base = #""message": "make a prediction by sending a post request to this endpoint with a json payload""#
        guard let models = modelMetadata.withLock({ $0[api] }) else { return "{\(base)}" }
        return "{\(base), \"model_metadata\": \(models)}"
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
