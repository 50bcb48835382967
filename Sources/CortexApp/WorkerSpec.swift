import CortexConfig
import Foundation
import Scheduling
import Workers

/// What a worker process is told about its API: `CORTEX_WORKER_SPEC` and the environment variables
/// Cortex gave predictors (`docs/PROTOCOL.md`, "Launching a worker").
enum WorkerSpec {
    static func json(
        api: APISpec, stagedRoot: String, frontHost: String, frontPort: Int
    ) -> String {
        let pythonPath = stagedRoot + "/" + (api.predictor.pythonPath ?? "")
        var spec: [String: JSONValue] = [
            "api": .string(api.name),
            "predictor_type": .string(api.predictor.type.rawValue),
            "predictor_path": .string(PreparedProject.normalise(api.predictor.path)),
            "config": .object(api.predictor.config),
            "threads_per_process": .int(api.predictor.threadsPerProcess),
            "processes_per_replica": .int(api.predictor.processesPerReplica),
            "project_dir": .string(stagedRoot),
            "python_path": .string(pythonPath),
            "front_host": .string(frontHost == "0.0.0.0" || frontHost == "::" ? "127.0.0.1" : frontHost),
            "front_port": .int(frontPort),
        ]
        if let models = ModelWatcher.workerSpec(api) { spec["models"] = models }
        if let batching = api.predictor.serverSideBatching {
            spec["batching"] = .object([
                "max_batch_size": .int(batching.maxBatchSize),
                "batch_interval": batching.batchInterval.map { .double($0) } ?? .null,
            ])
        }
        if let data = try? JSONEncoder().encode(api), let text = String(data: data, encoding: .utf8) {
            spec["api_spec_json"] = .string(text)
        }
        return JSONValue.object(spec).jsonText
    }

    /// How the front batches the API's requests: only a Python predictor's (TensorFlow and ONNX
    /// predictors batch their client calls inside the worker, from the spec's `batching`).
    static func frontBatching(_ api: APISpec) -> BatchPolicy? {
        guard api.predictor.type == .python, let batching = api.predictor.serverSideBatching else { return nil }
        return BatchPolicy(maxBatchSize: batching.maxBatchSize, interval: batching.batchInterval)
    }

    static func environment(
        api: APISpec, project: PreparedProject, stagedRoot: String, cacheDirectory: String,
        gpuDevices: [String]? = nil
    ) -> [String: String] {
        var environment = api.predictor.env
        for (name, value) in project.dotEnv { environment[name] = value }
        let cortex: [String: String] = [
            "CORTEX_KIND": api.kind,
            "CORTEX_VERSION": "0.23.0",
            "CORTEX_PROVIDER": "local",
            "CORTEX_SERVING_PORT": "8888",
            "CORTEX_CACHE_DIR": cacheDirectory,
            "CORTEX_PROJECT_DIR": stagedRoot,
            "CORTEX_PROCESSES_PER_REPLICA": String(api.predictor.processesPerReplica),
            "CORTEX_THREADS_PER_PROCESS": String(api.predictor.threadsPerProcess),
            "CORTEX_MAX_REPLICA_CONCURRENCY": String(api.autoscaling.maxReplicaConcurrency),
            "CORTEX_PYTHON_PATH": stagedRoot + "/" + (api.predictor.pythonPath ?? ""),
            "PYTHONUNBUFFERED": "TRUE",
        ]
        environment.merge(cortex) { _, cortex in cortex }
        if environment["PYTHONDONTWRITEBYTECODE"] == nil { environment["PYTHONDONTWRITEBYTECODE"] = "1" }
        // The API's GPUs (compute.gpu), shared by its workers.
        if let gpuDevices { environment["CUDA_VISIBLE_DEVICES"] = gpuDevices.joined(separator: ",") }
        return environment
    }
}

extension WorkerPoolConfiguration {
    /// The worker pool of one replica of `api` (`cortex serve` runs one per API; the operator as many
    /// as it scales to).
    init(
        api: APISpec, project: PreparedProject, stagedRoot: String, python: String, frontHost: String,
        frontPort: Int, grace: Double, noWorkerTimeout: Double, cacheDirectory: String, gpuDevices: [String]?
    ) {
        self.init(
            apiName: api.name, pythonExecutable: python, projectDirectory: stagedRoot,
            environment: WorkerSpec.environment(
                api: api, project: project, stagedRoot: stagedRoot, cacheDirectory: cacheDirectory,
                gpuDevices: gpuDevices),
            workerSpecJSON: WorkerSpec.json(
                api: api, stagedRoot: stagedRoot, frontHost: frontHost, frontPort: frontPort),
            processes: api.predictor.processesPerReplica, threadsPerProcess: api.predictor.threadsPerProcess,
            admissionLimit: api.autoscaling.maxReplicaConcurrency, shutdownGrace: grace,
            noWorkerTimeout: noWorkerTimeout, batching: WorkerSpec.frontBatching(api))
    }
}
