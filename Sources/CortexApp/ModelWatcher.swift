import ChildProcesses
import CortexConfig
import CortexProject
import Foundation
import Logging
import ModelRepository
import NIOPosix
import Workers

/// Finds an API's model versions (local folders, or S3 prefixes mirrored to a local cache) and keeps
/// looking for new, changed and removed ones while serving.
struct ModelWatcher: Sendable {
    /// Where one model (or, for `models.dir`, a folder of models) lives.
    struct Source: Sendable {
        var name: String?
        /// The YAML path that configured it, for errors.
        var field: String
        var location: String
        var localDirectory: String
        var isS3: Bool { location.hasPrefix("s3://") }
    }

    let api: APISpec
    let sources: [Source]
    let format: ModelFormat
    let python: String
    let logger: Logger

    /// nil when the API has no models.
    init?(api: APISpec, projectRoot: String, cacheRoot: String, python: String, logger: Logger) {
        let predictor = api.predictor
        var sources: [Source] = []
        func source(_ name: String?, _ field: String, _ location: String) -> Source {
            let local: String
            if location.hasPrefix("s3://") {
                local = "\(cacheRoot)/models/\(Digest.sha256Hex(location).prefix(24))"
            } else if location.hasPrefix("/") {
                local = location
            } else {
                local = URL(fileURLWithPath: projectRoot).appendingPathComponent(location).standardizedFileURL.path
            }
            return Source(name: name, field: field, location: location, localDirectory: local)
        }
        if let modelPath = predictor.modelPath {
            sources.append(source("_cortex_default", "predictor.model_path", modelPath))
        } else if let models = predictor.models {
            if let dir = models.dir {
                sources.append(source(nil, "predictor.models.dir", dir))
            }
            for (index, entry) in models.paths.enumerated() {
                sources.append(source(entry.name, "predictor.models.paths[\(index)].model_path", entry.modelPath))
            }
        }
        guard !sources.isEmpty else { return nil }
        self.api = api
        self.sources = sources
        self.format = ModelFormat(rawValue: predictor.type.rawValue) ?? .python
        self.python = python
        self.logger = logger
    }

    static func usesS3(_ api: APISpec) -> Bool {
        let predictor = api.predictor
        let locations =
            [predictor.modelPath, predictor.models?.dir].compactMap { $0 }
            + (predictor.models?.paths.map(\.modelPath) ?? [])
        return locations.contains { $0.hasPrefix("s3://") }
    }

    /// The worker spec's `models` entry (`docs/PROTOCOL.md`, "Launching a worker").
    static func workerSpec(_ api: APISpec) -> JSONValue? {
        let predictor = api.predictor
        guard predictor.modelPath != nil || predictor.models != nil else { return nil }
        var keys: [String: JSONValue] = [:]
        if predictor.modelPath != nil {
            keys["_cortex_default"] = predictor.signatureKey.map(JSONValue.string) ?? .null
        }
        for entry in predictor.models?.paths ?? [] {
            keys[entry.name] = (entry.signatureKey ?? predictor.models?.signatureKey).map(JSONValue.string) ?? .null
        }
        return .object([
            "mode": .string(predictor.modelPath != nil ? "single" : "multi"),
            "cache_size": predictor.models?.cacheSize.map(JSONValue.int) ?? .null,
            "disk_cache_size": predictor.models?.diskCacheSize.map(JSONValue.int) ?? .null,
            "default_signature_key": predictor.models?.signatureKey.map(JSONValue.string) ?? .null,
            "signature_keys": .object(keys),
        ])
    }

    /// Caching on: S3 versions are fetched by the worker when first used, bounded by `disk_cache_size`.
    var onDemand: Bool { api.predictor.models?.cacheSize != nil }

    /// Syncs S3 sources, then reads every source's layout. Errors name the field and the path.
    /// The layouts are read (a `stat` of every model file) on SwiftNIO's blocking pool, never on the
    /// caller's thread: in the binary that is an event loop serving requests.
    func scan() async throws -> ModelCatalog {
        var models: [ModelEntry] = []
        for source in sources {
            if source.isS3, onDemand {
                models += try await list(source)
                continue
            }
            if source.isS3 { try await sync(source) }
            let read = try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(ModelLayoutError) in try localModels(source) }
            }
            switch read {
            case .success(let found): models += found
            case .failure(let error): throw PreparedProject.Problems(lines: [problem(source, error)])
            }
        }
        return ModelCatalog(models: models.sorted { $0.name < $1.name })
    }

    /// Problems with the layouts of local model folders (S3 sources are checked when served).
    func localLayoutProblems() -> [String] {
        sources.filter { !$0.isS3 }.compactMap { source -> String? in
            do throws(ModelLayoutError) {
                _ = try localModels(source)
                return nil
            } catch {
                return problem(source, error)
            }
        }
    }

    /// The models a source's local folder holds: one model, or (for `models.dir`) one per child folder.
    private func localModels(_ source: Source) throws(ModelLayoutError) -> [ModelEntry] {
        guard let name = source.name else {
            return try ModelLayout.models(inDirectory: source.localDirectory, format: format)
        }
        return [ModelEntry(name: name, versions: try ModelLayout.versions(of: source.localDirectory, format: format))]
    }

    private func problem(_ source: Source, _ error: ModelLayoutError) -> String {
        "api \(api.name): \(source.field): \(source.location): \(error.message)"
    }

    /// Polls every `model_poll_interval` until cancelled, calling `changed` with each new catalog.
    func watch(from initial: ModelCatalog, changed: @Sendable (ModelCatalog) -> Void) async {
        var current = initial
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(api.predictor.modelPollInterval * 1000)))
            if Task.isCancelled { return }
            do {
                let next = try await scan()
                guard next != current else { continue }
                logger.notice("models changed: \(Self.describe(next))", metadata: ["api": .string(api.name)])
                current = next
                changed(next)
            } catch {
                logger.warning(
                    "model check failed, keeping the versions served now: \(error)",
                    metadata: ["api": .string(api.name)])
            }
        }
    }

    static func describe(_ catalog: ModelCatalog) -> String {
        catalog.models.map { "\($0.name) [\($0.versions.map(\.version).joined(separator: ", "))]" }
            .joined(separator: "; ")
    }

    /// Mirrors an S3 prefix into the local cache with the runtime's `s3sync` (boto3: the usual AWS
    /// credentials and `AWS_ENDPOINT_URL` apply).
    private func sync(_ source: Source) async throws {
        let output = try await s3sync(source, ["--dest", source.localDirectory])
        if let summary = output.split(separator: "\n").last, !summary.contains("\"downloaded\": 0, \"deleted\": 0") {
            logger.info("synced \(source.location): \(summary)", metadata: ["api": .string(api.name)])
        }
    }

    /// With caching, S3 versions are listed, not downloaded: the worker fetches a version when it is
    /// first used and keeps at most `disk_cache_size` of them on disk (`docs/PROTOCOL.md`, `MODELS`).
    private func list(_ source: Source) async throws -> [ModelEntry] {
        var arguments = ["--list", "--format", format.rawValue]
        if source.name == nil { arguments.append("--dir") }
        let output = try await s3sync(source, arguments)
        struct Listed: Decodable {
            struct Version: Decodable {
                var version: String
                var stamp: String
                var source: String
            }
            struct Model: Decodable {
                var name: String
                var versions: [Version]
            }
            var versions: [Version]?
            var models: [Model]?
        }
        guard let line = output.split(separator: "\n").last,
            let listed = try? JSONDecoder().decode(Listed.self, from: Data(line.utf8))
        else {
            throw PreparedProject.Problems(lines: [
                "api \(api.name): \(source.field): \(source.location): unexpected listing: \(output)"
            ])
        }
        func entry(_ name: String, _ versions: [Listed.Version], under directory: String) -> ModelEntry {
            ModelEntry(
                name: name,
                versions: versions.map {
                    ModelVersion(
                        version: $0.version, path: "\(directory)/\($0.version)", stamp: $0.stamp, source: $0.source)
                })
        }
        if let name = source.name { return [entry(name, listed.versions ?? [], under: source.localDirectory)] }
        return (listed.models ?? []).map { entry($0.name, $0.versions, under: "\(source.localDirectory)/\($0.name)") }
    }

    private func s3sync(_ source: Source, _ arguments: [String]) async throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = WorkerRuntime.pythonPath
        let result = try await ProcessRunner.run(
            python, ["-m", "cortex_worker.s3sync", "--source", source.location] + arguments, environment: environment)
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0 else {
            throw PreparedProject.Problems(lines: ["api \(api.name): \(source.field): \(source.location): \(output)"])
        }
        return output
    }
}
