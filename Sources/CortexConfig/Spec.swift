/// The kind of predictor class an API's `predictor.path` file defines (`predictor.type`).
public enum PredictorType: String, Sendable, Codable, CaseIterable {
    case python
    case tensorflow
    case onnx

    /// The Python class name the predictor file must define.
    public var className: String {
        switch self {
        case .python: return "PythonPredictor"
        case .tensorflow: return "TensorFlowPredictor"
        case .onnx: return "ONNXPredictor"
        }
    }
}

/// One validated API from `cortex.yaml`, with every default filled in.
public struct APISpec: Sendable, Equatable, Codable {
    public var name: String
    /// Always `"RealtimeAPI"` for specs returned by `ConfigLoader`.
    public var kind: String
    public var predictor: PredictorSpec
    public var networking: NetworkingSpec
    public var compute: ComputeSpec
    public var autoscaling: AutoscalingSpec
    public var updateStrategy: UpdateStrategySpec
    public var monitoring: MonitoringSpec?

    public init(
        name: String, kind: String = "RealtimeAPI", predictor: PredictorSpec,
        networking: NetworkingSpec,
        compute: ComputeSpec = ComputeSpec(), autoscaling: AutoscalingSpec = AutoscalingSpec(),
        updateStrategy: UpdateStrategySpec = UpdateStrategySpec(), monitoring: MonitoringSpec? = nil
    ) {
        self.name = name
        self.kind = kind
        self.predictor = predictor
        self.networking = networking
        self.compute = compute
        self.autoscaling = autoscaling
        self.updateStrategy = updateStrategy
        self.monitoring = monitoring
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, predictor, networking, compute, autoscaling, monitoring
        case updateStrategy = "update_strategy"
    }
}

/// The `predictor` section of an API.
public struct PredictorSpec: Sendable, Equatable, Codable {
    public var type: PredictorType
    /// The predictor file, relative to the project root (existence is checked elsewhere).
    public var path: String
    public var modelPath: String?
    /// TensorFlow only.
    public var signatureKey: String?
    public var models: ModelsSpec?
    /// TensorFlow only.
    public var serverSideBatching: ServerSideBatchingSpec?
    public var processesPerReplica: Int
    public var threadsPerProcess: Int
    public var config: [String: JSONValue]
    /// Normalised: leading `./` stripped, trailing `/` added; `nil` means the project root.
    public var pythonPath: String?
    public var image: String
    /// TensorFlow only (defaulted for TensorFlow, `nil` otherwise).
    public var tensorflowServingImage: String?
    public var env: [String: String]
    /// Per-request timeout in seconds (our addition; `nil` = no timeout).
    public var timeout: Double?
    /// Seconds between checks of the model folders for new, changed or removed versions (our addition).
    public var modelPollInterval: Double

    public init(
        type: PredictorType, path: String, modelPath: String? = nil, signatureKey: String? = nil,
        models: ModelsSpec? = nil, serverSideBatching: ServerSideBatchingSpec? = nil,
        processesPerReplica: Int = 1, threadsPerProcess: Int = 1, config: [String: JSONValue] = [:],
        pythonPath: String? = nil, image: String, tensorflowServingImage: String? = nil,
        env: [String: String] = [:], timeout: Double? = nil, modelPollInterval: Double = 10
    ) {
        self.type = type
        self.path = path
        self.modelPath = modelPath
        self.signatureKey = signatureKey
        self.models = models
        self.serverSideBatching = serverSideBatching
        self.processesPerReplica = processesPerReplica
        self.threadsPerProcess = threadsPerProcess
        self.config = config
        self.pythonPath = pythonPath
        self.image = image
        self.tensorflowServingImage = tensorflowServingImage
        self.env = env
        self.timeout = timeout
        self.modelPollInterval = modelPollInterval
    }

    enum CodingKeys: String, CodingKey {
        case type, path, models, config, image, env, timeout
        case modelPollInterval = "model_poll_interval"
        case modelPath = "model_path"
        case signatureKey = "signature_key"
        case serverSideBatching = "server_side_batching"
        case processesPerReplica = "processes_per_replica"
        case threadsPerProcess = "threads_per_process"
        case pythonPath = "python_path"
        case tensorflowServingImage = "tensorflow_serving_image"
    }
}

/// `predictor.models`: several named models, listed (`paths`) or discovered in a directory (`dir`).
public struct ModelsSpec: Sendable, Equatable, Codable {
    public var paths: [ModelPathSpec]
    public var dir: String?
    /// TensorFlow only; applies to `dir` models and to `paths` entries without their own.
    public var signatureKey: String?
    /// Models kept in memory (caching is on when both sizes are set).
    public var cacheSize: Int?
    /// Models kept on disk.
    public var diskCacheSize: Int?

    public init(
        paths: [ModelPathSpec] = [], dir: String? = nil, signatureKey: String? = nil,
        cacheSize: Int? = nil,
        diskCacheSize: Int? = nil
    ) {
        self.paths = paths
        self.dir = dir
        self.signatureKey = signatureKey
        self.cacheSize = cacheSize
        self.diskCacheSize = diskCacheSize
    }

    /// Whether model caching is enabled (both `cache_size` and `disk_cache_size` are set).
    public var cachingEnabled: Bool { cacheSize != nil && diskCacheSize != nil }

    enum CodingKeys: String, CodingKey {
        case paths, dir
        case signatureKey = "signature_key"
        case cacheSize = "cache_size"
        case diskCacheSize = "disk_cache_size"
    }
}

/// One entry of `predictor.models.paths`.
public struct ModelPathSpec: Sendable, Equatable, Codable {
    public var name: String
    public var modelPath: String
    /// TensorFlow only.
    public var signatureKey: String?

    public init(name: String, modelPath: String, signatureKey: String? = nil) {
        self.name = name
        self.modelPath = modelPath
        self.signatureKey = signatureKey
    }

    enum CodingKeys: String, CodingKey {
        case name
        case modelPath = "model_path"
        case signatureKey = "signature_key"
    }
}

/// `predictor.server_side_batching`: how concurrent requests are merged into one model call
/// (README, "Server-side batching").
public struct ServerSideBatchingSpec: Sendable, Equatable, Codable {
    /// The most requests (TensorFlow/ONNX: rows) in one batch.
    public var maxBatchSize: Int
    /// Seconds a batch may wait to fill; `nil` is the adaptive mode (`batch_interval: adaptive`): no
    /// wait, a batch is whatever is queued when a worker (or the model) is free.
    public var batchInterval: Double?

    public init(maxBatchSize: Int, batchInterval: Double?) {
        self.maxBatchSize = maxBatchSize
        self.batchInterval = batchInterval
    }

    /// `batch_interval: adaptive`.
    public var isAdaptive: Bool { batchInterval == nil }

    enum CodingKeys: String, CodingKey {
        case maxBatchSize = "max_batch_size"
        case batchInterval = "batch_interval"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxBatchSize = try container.decode(Int.self, forKey: .maxBatchSize)
        if (try? container.decode(String.self, forKey: .batchInterval)) == "adaptive" {
            batchInterval = nil
        } else {
            batchInterval = try container.decode(Double.self, forKey: .batchInterval)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxBatchSize, forKey: .maxBatchSize)
        if let batchInterval {
            try container.encode(batchInterval, forKey: .batchInterval)
        } else {
            try container.encode("adaptive", forKey: .batchInterval)
        }
    }
}

/// The `networking` section of an API.
public struct NetworkingSpec: Sendable, Equatable, Codable {
    /// URL path the API is served on; defaults to `/<name>`.
    public var endpoint: String
    /// Host port; `nil` = allocate automatically.
    public var localPort: Int?
    /// `public` or `none`.
    public var apiGateway: String
    /// Largest accepted request body in bytes (our addition `networking.max_request_size`).
    public var maxRequestSize: Int

    /// 256 MiB.
    public static let defaultMaxRequestSize = 256 * 1024 * 1024

    public init(
        endpoint: String, localPort: Int? = nil, apiGateway: String = "public",
        maxRequestSize: Int = NetworkingSpec.defaultMaxRequestSize
    ) {
        self.endpoint = endpoint
        self.localPort = localPort
        self.apiGateway = apiGateway
        self.maxRequestSize = maxRequestSize
    }

    enum CodingKeys: String, CodingKey {
        case endpoint
        case localPort = "local_port"
        case apiGateway = "api_gateway"
        case maxRequestSize = "max_request_size"
    }
}

/// The `compute` section of an API. `cpu` and `mem` keep the quantity text as written.
public struct ComputeSpec: Sendable, Equatable, Codable {
    public var cpu: String?
    public var mem: String?
    public var gpu: Int
    public var inf: Int

    public init(cpu: String? = nil, mem: String? = nil, gpu: Int = 0, inf: Int = 0) {
        self.cpu = cpu
        self.mem = mem
        self.gpu = gpu
        self.inf = inf
    }

    /// `cpu` in cores (e.g. `"500m"` → 0.5), if set.
    public var cpuCores: Double? { cpu.flatMap(Quantity.parse) }
    /// `mem` in bytes (e.g. `"1Gi"` → 1073741824), if set.
    public var memBytes: Int? { mem.flatMap(Quantity.parse).map { Int($0.rounded(.up)) } }
}

/// The `autoscaling` section of an API (Cortex's defaults when absent). Durations are in seconds.
public struct AutoscalingSpec: Sendable, Equatable, Codable {
    public var minReplicas: Int
    public var maxReplicas: Int
    public var initReplicas: Int
    public var targetReplicaConcurrency: Double
    public var maxReplicaConcurrency: Int
    public var window: Double
    public var downscaleStabilizationPeriod: Double
    public var upscaleStabilizationPeriod: Double
    public var maxDownscaleFactor: Double
    public var maxUpscaleFactor: Double
    public var downscaleTolerance: Double
    public var upscaleTolerance: Double

    public init(
        minReplicas: Int = 1, maxReplicas: Int = 100, initReplicas: Int = 1,
        targetReplicaConcurrency: Double = 1,
        maxReplicaConcurrency: Int = 1024, window: Double = 60,
        downscaleStabilizationPeriod: Double = 300,
        upscaleStabilizationPeriod: Double = 60, maxDownscaleFactor: Double = 0.75,
        maxUpscaleFactor: Double = 1.5,
        downscaleTolerance: Double = 0.05, upscaleTolerance: Double = 0.05
    ) {
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.initReplicas = initReplicas
        self.targetReplicaConcurrency = targetReplicaConcurrency
        self.maxReplicaConcurrency = maxReplicaConcurrency
        self.window = window
        self.downscaleStabilizationPeriod = downscaleStabilizationPeriod
        self.upscaleStabilizationPeriod = upscaleStabilizationPeriod
        self.maxDownscaleFactor = maxDownscaleFactor
        self.maxUpscaleFactor = maxUpscaleFactor
        self.downscaleTolerance = downscaleTolerance
        self.upscaleTolerance = upscaleTolerance
    }

    enum CodingKeys: String, CodingKey {
        case window
        case minReplicas = "min_replicas"
        case maxReplicas = "max_replicas"
        case initReplicas = "init_replicas"
        case targetReplicaConcurrency = "target_replica_concurrency"
        case maxReplicaConcurrency = "max_replica_concurrency"
        case downscaleStabilizationPeriod = "downscale_stabilization_period"
        case upscaleStabilizationPeriod = "upscale_stabilization_period"
        case maxDownscaleFactor = "max_downscale_factor"
        case maxUpscaleFactor = "max_upscale_factor"
        case downscaleTolerance = "downscale_tolerance"
        case upscaleTolerance = "upscale_tolerance"
    }
}

/// The `update_strategy` section of an API: each value is an integer (`"1"`) or a percentage (`"25%"`).
public struct UpdateStrategySpec: Sendable, Equatable, Codable {
    public var maxSurge: String
    public var maxUnavailable: String

    public init(maxSurge: String = "25%", maxUnavailable: String = "25%") {
        self.maxSurge = maxSurge
        self.maxUnavailable = maxUnavailable
    }

    enum CodingKeys: String, CodingKey {
        case maxSurge = "max_surge"
        case maxUnavailable = "max_unavailable"
    }
}

/// The `monitoring` section of an API (only meaningful on AWS).
public struct MonitoringSpec: Sendable, Equatable, Codable {
    /// `classification` or `regression`.
    public var modelType: String?
    public var key: String?

    public init(modelType: String? = nil, key: String? = nil) {
        self.modelType = modelType
        self.key = key
    }

    enum CodingKeys: String, CodingKey {
        case key
        case modelType = "model_type"
    }
}
