import Foundation
import Yams

/// Reads `cortex.yaml` into validated `APISpec`s, collecting every problem rather than stopping at the first.
public enum ConfigLoader {
    /// Reads and validates the config file at `path` (errors name the file as `path`).
    public static func load(path: String) throws(ConfigErrors) -> [APISpec] {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ConfigErrors([ConfigError(file: path, path: "", message: "file is not valid UTF-8")])
            }
            text = decoded
        } catch let error as ConfigErrors {
            throw error
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ConfigErrors([ConfigError(file: path, path: "", message: "cannot read file: \(reason)")]
            )
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses and validates config text; `file` is only used to label errors.
    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> [APISpec] {
        let diag = Diagnostics(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors([yamlError(error, file: file)])
        }
        let topLevel = "must be a list of API configurations (e.g. \"- name: my-api\")"
        guard let root, !root.isNull else {
            throw ConfigErrors([
                ConfigError(file: file, path: "", message: "\(topLevel), but the file is empty", line: nil)
            ])
        }
        guard case .sequence(let items) = root else {
            throw ConfigErrors([
                ConfigError(
                    file: file, path: "", message: "\(topLevel), got \(root.shown)", line: root.line)
            ])
        }
        guard !items.isEmpty else {
            throw ConfigErrors([
                ConfigError(
                    file: file, path: "", message: "must contain at least one API configuration",
                    line: root.line)
            ])
        }

        var specs: [APISpec] = []
        var names: [String: Int?] = [:]
        var endpoints: [String: String] = [:]
        var ports: [Int: String] = [:]
        for (index, item) in items.enumerated() {
            diag.api = nil
            diag.index = index
            let before = diag.errors.count
            let parsed = APIParser(node: item, diag: diag).parse()
            if let parsed {
                var duplicate = false
                if let name = parsed.name {
                    if let firstLine = names[name] {
                        let seenAt = firstLine.map { " (line \($0))" } ?? ""
                        diag.add(
                            "name", line: parsed.nameLine,
                            "\(JSONValue.string(name).jsonText) is already used by another API\(seenAt)")
                        duplicate = true
                    } else {
                        names[name] = parsed.nameLine
                    }
                }
                if let spec = parsed.spec, !duplicate {
                    if let other = endpoints[spec.networking.endpoint] {
                        diag.add(
                            "networking.endpoint", line: parsed.endpointLine,
                            "\(JSONValue.string(spec.networking.endpoint).jsonText) is already used by api \(other)"
                        )
                    } else {
                        endpoints[spec.networking.endpoint] = spec.name
                    }
                    if let port = spec.networking.localPort {
                        if let other = ports[port] {
                            diag.add(
                                "networking.local_port", line: parsed.portLine,
                                "\(port) is already used by api \(other)")
                        } else {
                            ports[port] = spec.name
                        }
                    }
                    if diag.errors.count == before { specs.append(spec) }
                }
            }
        }
        if !diag.errors.isEmpty {
            // In file order; errors without a line keep their place relative to each other, last.
            let ordered = diag.errors.enumerated().sorted {
                ($0.element.line ?? Int.max, $0.offset) < ($1.element.line ?? Int.max, $1.offset)
            }
            throw ConfigErrors(ordered.map(\.element))
        }
        return specs
    }

    static func yamlError(_ error: any Error, file: String) -> ConfigError {
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(let context, let problem, let mark, _),
                .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                let message = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(
                    separator: ", ")
                return ConfigError(
                    file: file, path: "", message: "invalid YAML: \(message)", line: mark.line)
            case .duplicatedKeysInMapping(let duplicates, let context):
                let keys = duplicates.map { JSONValue.string($0).jsonText }.joined(separator: ", ")
                return ConfigError(
                    file: file, path: "", message: "invalid YAML: duplicate key \(keys)",
                    line: context.mark.line)
            default:
                break
            }
        }
        return ConfigError(file: file, path: "", message: "invalid YAML: \(error)")
    }
}

/// Default container images (Cortex v0.23.0); kept for `predictor.image` compatibility only.
enum Images {
    static let registry = "quay.io/cortexlabs/"
    static let tag = "0.23.0"
    static func image(_ name: String) -> String { "\(registry)\(name):\(tag)" }
}

/// Validates one API entry of the top-level list.
struct APIParser {
    static let apiKeys = [
        "name", "kind", "predictor", "networking", "compute", "autoscaling", "update_strategy",
        "monitoring",
    ]
    static let predictorKeys = [
        "type", "path", "model_path", "signature_key", "models", "server_side_batching",
        "processes_per_replica",
        "threads_per_process", "config", "python_path", "image", "tensorflow_serving_image", "env",
        "timeout", "model_poll_interval",
    ]
    static let modelsKeys = ["paths", "dir", "signature_key", "cache_size", "disk_cache_size"]
    static let modelPathKeys = ["name", "model_path", "signature_key"]
    static let batchingKeys = ["max_batch_size", "batch_interval"]
    static let networkingKeys = ["endpoint", "local_port", "api_gateway", "max_request_size"]
    static let computeKeys = ["cpu", "mem", "gpu", "inf"]
    static let autoscalingKeys = [
        "min_replicas", "max_replicas", "init_replicas", "target_replica_concurrency",
        "max_replica_concurrency",
        "window", "downscale_stabilization_period", "upscale_stabilization_period",
        "max_downscale_factor",
        "max_upscale_factor", "downscale_tolerance", "upscale_tolerance",
    ]
    static let updateStrategyKeys = ["max_surge", "max_unavailable"]
    static let monitoringKeys = ["model_type", "key"]
    static let kinds = ["RealtimeAPI", "BatchAPI", "TrafficSplitter"]
    static let maxNameLength = 42
    static let reservedModelName = "_cortex_default"

    struct Result {
        var name: String?
        var nameLine: Int?
        var endpointLine: Int?
        var portLine: Int?
        var spec: APISpec?
    }

    let node: Node
    let diag: Diagnostics

    func parse() -> Result? {
        guard let api = MapReader(node, path: "", diag: diag) else { return nil }
        var result = Result()

        // Name first, so that later errors carry it.
        let nameValue = api.value("name")
        if let nameValue, nameValue.isStringScalar, let raw = nameValue.scalar?.string, !raw.isEmpty {
            diag.api = raw
        }
        let name = api.string("name", required: true)
        if let name {
            result.name = name
            result.nameLine = api.line("name")
            if name.count > Self.maxNameLength {
                api.error(
                    "name", "must be at most \(Self.maxNameLength) characters long, got \(name.count)")
            } else if !isDNS1035(name) {
                api.error(
                    "name",
                    "must contain only lower case letters, numbers and dashes, start with a letter and not end with a dash, got \(nameValue!.shown)"
                )
            }
        }

        // Kind: only RealtimeAPI is served; other known kinds stop here (their schema differs).
        if let kindNode = api.value("kind"), kindNode.isStringScalar,
            let kind = kindNode.scalar?.string, kind == "BatchAPI" || kind == "TrafficSplitter"
        {
            api.error("kind", "\(kind) is not supported by cortex serve (only RealtimeAPI is)")
            return result
        }
        _ = api.oneOf("kind", Self.kinds, required: true)
        api.rejectUnknownKeys(Self.apiKeys)

        let computeSection = api.map("compute", allowed: Self.computeKeys)
        var compute = parseCompute(computeSection)

        var predictor: PredictorSpec?
        if let section = api.map("predictor", allowed: Self.predictorKeys) {
            predictor = parsePredictor(section, compute: &compute, computeSection: computeSection)
        } else if api.value("predictor") == nil {
            api.required("predictor")
        }

        let networkingSection = api.map("networking", allowed: Self.networkingKeys)
        result.endpointLine = networkingSection?.line("endpoint") ?? api.line
        result.portLine = networkingSection?.line("local_port") ?? api.line
        let networking = parseNetworking(networkingSection, name: name ?? "api")

        let autoscaling = parseAutoscaling(
            api.map("autoscaling", allowed: Self.autoscalingKeys),
            concurrency: (predictor?.processesPerReplica ?? 1) * (predictor?.threadsPerProcess ?? 1),
            line: api.line("predictor"))
        let updateStrategy = parseUpdateStrategy(
            api.map("update_strategy", allowed: Self.updateStrategyKeys))
        var monitoring: MonitoringSpec?
        if let section = api.map("monitoring", allowed: Self.monitoringKeys) {
            monitoring = MonitoringSpec(
                modelType: section.oneOf("model_type", ["classification", "regression"]),
                key: section.string("key"))
        }

        if let name, let predictor {
            result.spec = APISpec(
                name: name, kind: "RealtimeAPI", predictor: predictor, networking: networking,
                compute: compute,
                autoscaling: autoscaling, updateStrategy: updateStrategy, monitoring: monitoring)
        }
        return result
    }

    // MARK: predictor

    func parsePredictor(_ p: MapReader, compute: inout ComputeSpec, computeSection: MapReader?)
        -> PredictorSpec?
    {
        var ok = true
        func fail() { ok = false }

        var type: PredictorType?
        if let raw = p.oneOf("type", PredictorType.allCases.map(\.rawValue), required: true) {
            type = PredictorType(rawValue: raw)
        }
        let path = p.string("path", required: true)
        if path == nil { fail() }

        /// TensorFlow-only fields are rejected for the other types.
        func tensorflowOnly(_ reader: MapReader, _ key: String) -> Bool {
            guard let type, type != .tensorflow, reader.contains(key) else { return true }
            reader.error(key, "is not a supported field for the \(type.rawValue) predictor type")
            return false
        }

        let modelPath = p.string("model_path")
        var signatureKey: String?
        if tensorflowOnly(p, "signature_key") { signatureKey = p.string("signature_key") }

        // nil only when written but invalid (so that dependent rules are skipped).
        let processes =
            p.value("processes_per_replica") == nil ? 1 : p.int("processes_per_replica", min: 1, max: 100)
        let threads = p.value("threads_per_process") == nil ? 1 : p.int("threads_per_process", min: 1)

        // models
        var models: ModelsSpec?
        if let m = p.map("models", allowed: Self.modelsKeys) {
            models = parseModels(m, type: type, tensorflowOnly: tensorflowOnly)
            if models == nil { fail() }
        } else if p.value("models") != nil {
            fail()
        }
        if modelPath != nil, p.value("models") != nil {
            p.error("model_path", "conflicts with predictor.models")
        }
        if let type, type != .python, p.value("model_path") == nil, p.value("models") == nil {
            p.error(
                "model_path",
                "is required for the \(type.rawValue) predictor type (or use predictor.models)")
        }
        if let models, models.cacheSize != nil || models.diskCacheSize != nil, let processes,
            processes != 1
        {
            p.error("processes_per_replica", "must be 1 when model caching is enabled, got \(processes)")
        }

        // server_side_batching: every predictor type (TensorFlow/ONNX batch inside the worker, Python in
        // the front); `batch_interval: adaptive` sends whatever is queued as soon as a worker is free.
        var batching: ServerSideBatchingSpec?
        if let b = p.map("server_side_batching", allowed: Self.batchingKeys) {
            let maxBatchSize = b.int("max_batch_size", required: true, min: 2, max: 1024)
            // .some(nil): adaptive; nil: missing or invalid.
            var interval: Double?? = nil
            if let v = b.value("batch_interval") {
                if v.isStringScalar, let text = v.scalar?.string, text == "adaptive" {
                    interval = .some(nil)
                } else if v.isStringScalar, let text = v.scalar?.string, let d = GoDuration.parse(text) {
                    if d > 0 {
                        interval = .some(d)
                    } else {
                        b.error("batch_interval", "must be > 0s (or \"adaptive\"), got \(v.shown)")
                    }
                } else {
                    b.error(
                        "batch_interval",
                        "must be a duration like \"10ms\" or \"500us\", or \"adaptive\", got \(v.shown)")
                }
            } else {
                b.required("batch_interval")
            }
            // Cortex's rule, for the predictor types whose batches are concurrent client calls from the
            // predictor's threads. A Python predictor's batches are formed in the front: a single thread
            // takes a whole batch, so the rule does not apply there.
            if let maxBatchSize, let processes, let threads, type != .python {
                if compute.inf > 0 {
                    if maxBatchSize > threads {
                        b.error(
                            "max_batch_size",
                            "must be ≤ predictor.threads_per_process (\(threads)) when compute.inf is set, got \(maxBatchSize)"
                        )
                    }
                } else if maxBatchSize > processes * threads {
                    b.error(
                        "max_batch_size",
                        "must be ≤ predictor.processes_per_replica × predictor.threads_per_process (\(processes * threads)), got \(maxBatchSize)"
                    )
                }
            }
            if let maxBatchSize, case .some(let interval) = interval {
                batching = ServerSideBatchingSpec(maxBatchSize: maxBatchSize, batchInterval: interval)
            }
        }

        // config
        var config: [String: JSONValue] = [:]
        if let c = p.value("config") {
            if case .mapping = c {
                config = jsonObject(c, path: p.path("config"), diag: diag) ?? [:]
            } else {
                p.error("config", "must be a map, got \(c.shown)")
            }
        }

        // python_path
        var pythonPath: String?
        if let raw = p.string("python_path") {
            pythonPath = normalisePythonPath(raw, reader: p)
        }

        // env
        var env: [String: String] = [:]
        if let e = p.value("env") {
            if let reader = MapReader(e, path: p.path("env"), diag: diag) {
                for key in e.mappingEntries.compactMap({ $0.key.scalar?.string }) {
                    if key.hasPrefix("CORTEX_") {
                        reader.error(key, "environment variables starting with CORTEX_ are reserved")
                        continue
                    }
                    guard let v = reader.value(key) else {
                        env[key] = ""  // explicit null
                        continue
                    }
                    guard case .scalar(let s) = v else {
                        reader.error(key, "must be a string, got \(v.shown)")
                        continue
                    }
                    env[key] = s.string
                }
            }
        }

        // timeout (our addition)
        var timeout = p.duration("timeout", allowNumber: true)
        if let t = timeout, t <= 0 {
            p.error("timeout", "must be > 0, got \(p.value("timeout")!.shown)")
            timeout = nil
        }

        // model_poll_interval (our addition): how often model folders are checked for new versions
        var pollInterval = p.duration("model_poll_interval", allowNumber: true) ?? 10
        if pollInterval <= 0 {
            p.error("model_poll_interval", "must be > 0, got \(p.value("model_poll_interval")!.shown)")
            pollInterval = 10
        }

        // compute rules that depend on the predictor
        if compute.inf > 0, let computeSection {
            if type == .onnx {
                computeSection.error("inf", "is not supported for the onnx predictor type")
            }
            if let processes, (compute.inf * 4) % processes != 0 {
                p.error(
                    "processes_per_replica",
                    "must evenly divide compute.inf × 4 (\(compute.inf * 4)) when compute.inf is set, got \(processes)"
                )
            }
        }

        // images
        let device = compute.inf > 0 ? "inf" : (compute.gpu > 0 ? "gpu" : "cpu")
        var image: String?
        if let raw = p.string("image") {
            image = checkImage(raw, key: "image", reader: p)
        }
        var servingImage: String?
        if tensorflowOnly(p, "tensorflow_serving_image"), let raw = p.string("tensorflow_serving_image") {
            servingImage = checkImage(raw, key: "tensorflow_serving_image", reader: p)
        }

        guard ok, let type, let path else { return nil }
        if image == nil {
            switch type {
            case .python: image = Images.image("python-predictor-\(device)")
            case .onnx: image = Images.image("onnx-predictor-\(device == "gpu" ? "gpu" : "cpu")")
            case .tensorflow: image = Images.image("tensorflow-predictor")
            }
        }
        if type == .tensorflow, servingImage == nil {
            servingImage = Images.image("tensorflow-serving-\(device)")
        }
        return PredictorSpec(
            type: type, path: path, modelPath: modelPath, signatureKey: signatureKey, models: models,
            serverSideBatching: batching, processesPerReplica: processes ?? 1,
            threadsPerProcess: threads ?? 1,
            config: config, pythonPath: pythonPath, image: image!, tensorflowServingImage: servingImage,
            env: env,
            timeout: timeout, modelPollInterval: pollInterval)
    }

    func parseModels(
        _ m: MapReader, type: PredictorType?, tensorflowOnly: (MapReader, String) -> Bool
    ) -> ModelsSpec? {
        var ok = true
        var paths: [ModelPathSpec] = []
        if let items = m.list("paths") {
            var seen: Set<String> = []
            for (i, item) in items.enumerated() {
                guard let entry = MapReader(item, path: "\(m.path("paths"))[\(i)]", diag: diag) else {
                    ok = false
                    continue
                }
                entry.rejectUnknownKeys(Self.modelPathKeys)
                var name = entry.string("name", required: true)
                if let n = name {
                    if n == Self.reservedModelName {
                        entry.error("name", "\"\(Self.reservedModelName)\" is reserved")
                        name = nil
                    } else if !isModelName(n) {
                        entry.error(
                            "name",
                            "must contain only letters, numbers, underscores and dashes, got \(entry.value("name")!.shown)"
                        )
                        name = nil
                    } else if !seen.insert(n).inserted {
                        entry.error("name", "\(entry.value("name")!.shown) is already used by another model")
                        name = nil
                    }
                }
                let modelPath = entry.string("model_path", required: true)
                var signatureKey: String?
                if tensorflowOnly(entry, "signature_key") { signatureKey = entry.string("signature_key") }
                if let name, let modelPath {
                    paths.append(ModelPathSpec(name: name, modelPath: modelPath, signatureKey: signatureKey))
                } else {
                    ok = false
                }
            }
        } else if m.value("paths") != nil {
            ok = false
        }
        let dir = m.string("dir")
        let hasPaths = m.value("paths") != nil && !(m.value("paths")?.sequence?.isEmpty ?? false)
        let hasDir = m.value("dir") != nil
        if hasPaths && hasDir {
            m.error("dir", "conflicts with predictor.models.paths")
        } else if !hasPaths && !hasDir {
            diag.add(m.path, line: m.line, "one of paths or dir is required")
            ok = false
        }
        var signatureKey: String?
        if tensorflowOnly(m, "signature_key") { signatureKey = m.string("signature_key") }
        let cacheSize = m.int("cache_size", min: 1)
        let diskCacheSize = m.int("disk_cache_size", min: 1)
        if m.value("cache_size") != nil, m.value("disk_cache_size") == nil {
            m.error("disk_cache_size", "is required when predictor.models.cache_size is set")
        } else if m.value("disk_cache_size") != nil, m.value("cache_size") == nil {
            m.error("cache_size", "is required when predictor.models.disk_cache_size is set")
        } else if let cacheSize, let diskCacheSize, cacheSize > diskCacheSize {
            m.error(
                "cache_size",
                "must be ≤ predictor.models.disk_cache_size (\(diskCacheSize)), got \(cacheSize)")
        }
        guard ok else { return nil }
        return ModelsSpec(
            paths: paths, dir: dir, signatureKey: signatureKey, cacheSize: cacheSize,
            diskCacheSize: diskCacheSize)
    }

    func normalisePythonPath(_ raw: String, reader p: MapReader) -> String? {
        let shown = JSONValue.string(raw).jsonText
        if raw.hasPrefix("/") || raw.hasPrefix("~") {
            p.error("python_path", "must be a path relative to the project directory, got \(shown)")
            return nil
        }
        var path = raw
        while path.hasPrefix("./") { path.removeFirst(2) }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter {
            $0 != "."
        }
        if components.isEmpty {
            p.error(
                "python_path",
                "must not be the project directory itself (omit python_path instead), got \(shown)")
            return nil
        }
        if components.contains("..") {
            p.error("python_path", "must be inside the project directory, got \(shown)")
            return nil
        }
        return path.hasSuffix("/") ? path : path + "/"
    }

    func checkImage(_ image: String, key: String, reader p: MapReader) -> String? {
        let shown = JSONValue.string(image).jsonText
        if image.contains(where: \.isWhitespace) {
            p.error(key, "must be a container image name, got \(shown)")
            return nil
        }
        let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
        let repository = image.split(separator: "/").dropLast().last.map(String.init)
        if repository == "cortexlabs" {
            let tag = lastComponent.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
            if tag != Images.tag {
                p.error(key, "cortexlabs images must use tag \(Images.tag), got \(shown)")
                return nil
            }
        }
        return image
    }

    // MARK: compute

    func parseCompute(_ c: MapReader?) -> ComputeSpec {
        var compute = ComputeSpec()
        guard let c else { return compute }
        if let (text, cores) = c.quantity("cpu", example: "\"500m\" or 2") {
            if cores < 0.02 {
                c.error("cpu", "must be ≥ 20m, got \(c.value("cpu")!.shown)")
            } else {
                compute.cpu = text
            }
        }
        if let (text, bytes) = c.quantity("mem", example: "\"512Mi\" or \"2Gi\"") {
            if bytes < 20 * 1024 * 1024 {
                c.error("mem", "must be ≥ 20Mi, got \(c.value("mem")!.shown)")
            } else {
                compute.mem = text
            }
        }
        compute.gpu = c.int("gpu", min: 0) ?? 0
        compute.inf = c.int("inf", min: 0, max: 1) ?? 0
        if compute.inf > 0, compute.gpu > 0 {
            c.error("inf", "conflicts with compute.gpu")
        }
        return compute
    }

    // MARK: networking

    func parseNetworking(_ n: MapReader?, name: String) -> NetworkingSpec {
        var networking = NetworkingSpec(endpoint: "/\(name)")
        guard let n else { return networking }
        if let endpoint = n.string("endpoint") {
            let shown = JSONValue.string(endpoint).jsonText
            if !endpoint.hasPrefix("/") {
                n.error("endpoint", "must start with \"/\", got \(shown)")
            } else if endpoint == "/" {
                n.error("endpoint", "must not be \"/\"")
            } else if endpoint.contains("//") {
                n.error("endpoint", "must not contain \"//\", got \(shown)")
            } else if endpoint.contains(where: { $0.isWhitespace || $0 == "?" || $0 == "#" }) {
                n.error("endpoint", "must be a URL path (no spaces, \"?\" or \"#\"), got \(shown)")
            } else {
                networking.endpoint = endpoint
            }
        }
        networking.localPort = n.int("local_port", min: 1, max: 65535)
        networking.apiGateway = n.oneOf("api_gateway", ["public", "none"]) ?? "public"
        if let v = n.value("max_request_size") {
            if case .scalar = v, v.tagName == .int, let bytes = v.int {
                if bytes < 1 {
                    n.error("max_request_size", "must be > 0, got \(v.shown)")
                } else {
                    networking.maxRequestSize = bytes
                }
            } else if let (_, q) = n.quantity("max_request_size", example: "1048576 or \"256Mi\"") {
                if q <= 0 {
                    n.error("max_request_size", "must be > 0, got \(v.shown)")
                } else if q.rounded(.up) >= Double(Int.max) {
                    n.error("max_request_size", "is too large, got \(v.shown)")
                } else {
                    networking.maxRequestSize = Int(q.rounded(.up))
                }
            }
        }
        return networking
    }

    // MARK: autoscaling

    func parseAutoscaling(_ a: MapReader?, concurrency: Int, line: Int?) -> AutoscalingSpec {
        var s = AutoscalingSpec(targetReplicaConcurrency: Double(concurrency))
        guard let a else {
            if Double(concurrency) > Double(s.maxReplicaConcurrency) {
                diag.add(
                    "autoscaling.target_replica_concurrency", line: line,
                    "must be ≤ autoscaling.max_replica_concurrency (\(s.maxReplicaConcurrency)), got \(concurrency) (predictor.processes_per_replica × predictor.threads_per_process)"
                )
            }
            return s
        }
        func shown(_ key: String) -> String { a.value(key)!.shown }

        // min_replicas 0 (scale to zero when idle) is beyond Cortex, which required ≥ 1.
        let minReplicas = a.int("min_replicas", min: 0)
        let maxReplicas = a.int("max_replicas", min: 1)
        let initReplicas = a.int("init_replicas", min: 0)
        let minValid = minReplicas != nil || a.value("min_replicas") == nil
        let maxValid = maxReplicas != nil || a.value("max_replicas") == nil
        s.minReplicas = minReplicas ?? s.minReplicas
        s.maxReplicas = maxReplicas ?? s.maxReplicas
        s.initReplicas = initReplicas ?? s.minReplicas
        if minValid, maxValid {
            if s.minReplicas > s.maxReplicas {
                a.error(
                    "min_replicas",
                    "must be ≤ autoscaling.max_replicas (\(s.maxReplicas)), got \(s.minReplicas)")
            } else if let initReplicas, initReplicas < s.minReplicas {
                a.error(
                    "init_replicas",
                    "must be ≥ autoscaling.min_replicas (\(s.minReplicas)), got \(initReplicas)")
            } else if let initReplicas, initReplicas > s.maxReplicas {
                a.error(
                    "init_replicas",
                    "must be ≤ autoscaling.max_replicas (\(s.maxReplicas)), got \(initReplicas)")
            }
        }

        var maxConcurrencyOK = true
        if a.value("max_replica_concurrency") != nil {
            if let v = a.int("max_replica_concurrency", min: 1, max: 30000) {
                s.maxReplicaConcurrency = v
            } else {
                maxConcurrencyOK = false
            }
        }
        if let target = a.number("target_replica_concurrency") {
            if target <= 0 {
                a.error(
                    "target_replica_concurrency", "must be > 0, got \(shown("target_replica_concurrency"))")
            } else {
                s.targetReplicaConcurrency = target
                if maxConcurrencyOK, target > Double(s.maxReplicaConcurrency) {
                    a.error(
                        "target_replica_concurrency",
                        "must be ≤ autoscaling.max_replica_concurrency (\(s.maxReplicaConcurrency)), got \(shown("target_replica_concurrency"))"
                    )
                }
            }
        } else if a.value("target_replica_concurrency") == nil, maxConcurrencyOK,
            s.targetReplicaConcurrency > Double(s.maxReplicaConcurrency)
        {
            a.error(
                "target_replica_concurrency",
                "must be ≤ autoscaling.max_replica_concurrency (\(s.maxReplicaConcurrency)), got \(concurrency) (predictor.processes_per_replica × predictor.threads_per_process)"
            )
        }

        if let window = a.duration("window") {
            if window < 10 {
                a.error("window", "must be ≥ 10s, got \(shown("window"))")
            } else if (window / 10).rounded() * 10 != window {
                a.error("window", "must be a multiple of 10s, got \(shown("window"))")
            } else {
                s.window = window
            }
        }
        for (key, keyPath) in [
            ("downscale_stabilization_period", \AutoscalingSpec.downscaleStabilizationPeriod),
            ("upscale_stabilization_period", \AutoscalingSpec.upscaleStabilizationPeriod),
        ] {
            if let d = a.duration(key) {
                if d < 0 {
                    a.error(key, "must be ≥ 0s, got \(shown(key))")
                } else {
                    s[keyPath: keyPath] = d
                }
            }
        }
        if let f = a.number("max_downscale_factor") {
            if f < 0 {
                a.error("max_downscale_factor", "must be ≥ 0, got \(shown("max_downscale_factor"))")
            } else if f >= 1 {
                a.error("max_downscale_factor", "must be < 1, got \(shown("max_downscale_factor"))")
            } else {
                s.maxDownscaleFactor = f
            }
        }
        if let f = a.number("max_upscale_factor") {
            if f <= 1 {
                a.error("max_upscale_factor", "must be > 1, got \(shown("max_upscale_factor"))")
            } else {
                s.maxUpscaleFactor = f
            }
        }
        if let t = a.number("downscale_tolerance") {
            if t < 0 {
                a.error("downscale_tolerance", "must be ≥ 0, got \(shown("downscale_tolerance"))")
            } else if t >= 1 {
                a.error("downscale_tolerance", "must be < 1, got \(shown("downscale_tolerance"))")
            } else {
                s.downscaleTolerance = t
            }
        }
        if let t = a.number("upscale_tolerance") {
            if t < 0 {
                a.error("upscale_tolerance", "must be ≥ 0, got \(shown("upscale_tolerance"))")
            } else {
                s.upscaleTolerance = t
            }
        }
        return s
    }

    // MARK: update_strategy

    func parseUpdateStrategy(_ u: MapReader?) -> UpdateStrategySpec {
        var s = UpdateStrategySpec()
        guard let u else { return s }
        var zeros = 0
        var bothValid = true
        for key in ["max_surge", "max_unavailable"] {
            guard let v = u.value(key) else {
                continue
            }
            guard let (text, isZero) = surgeValue(v, key: key, reader: u) else {
                bothValid = false
                continue
            }
            if key == "max_surge" { s.maxSurge = text } else { s.maxUnavailable = text }
            if isZero { zeros += 1 }
        }
        if bothValid, zeros == 2 {
            diag.add(u.path, line: u.line, "max_surge and max_unavailable cannot both be 0")
        }
        return s
    }

    /// An integer ≥ 0 or a percentage `N%` (0…100): the normalised text and whether it is zero.
    func surgeValue(_ v: Node, key: String, reader u: MapReader) -> (String, Bool)? {
        guard case .scalar(let scalar) = v else {
            u.error(key, "must be an integer or a percentage like \"25%\", got \(v.shown)")
            return nil
        }
        let text = scalar.string
        if v.tagName == .int || v.tagName == .str, let i = Int(text) {
            guard i >= 0 else {
                u.error(key, "must be ≥ 0, got \(v.shown)")
                return nil
            }
            return (String(i), i == 0)
        }
        if v.tagName == .str, text.hasSuffix("%"), let p = Int(text.dropLast()) {
            guard (0...100).contains(p) else {
                u.error(key, "must be between 0% and 100%, got \(v.shown)")
                return nil
            }
            return ("\(p)%", p == 0)
        }
        u.error(key, "must be an integer or a percentage like \"25%\", got \(v.shown)")
        return nil
    }
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
func isDNS1035(_ name: String) -> Bool {
    let chars = Array(name.unicodeScalars)
    guard let first = chars.first, ("a"..."z").contains(first) else { return false }
    guard let last = chars.last, last != "-" else { return false }
    return chars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
}

/// `[A-Za-z0-9_-]+`
func isModelName(_ name: String) -> Bool {
    !name.isEmpty
        && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                || $0 == "-"
        }
}
