import Scheduling

/// Everything needed to run the worker processes of one API.
public struct WorkerPoolConfiguration: Sendable {
    /// The API's name, used in logs and socket names.
    public var apiName: String
    /// The Python interpreter of the API's managed environment.
    public var pythonExecutable: String
    /// The staged project directory: the workers' working directory.
    public var projectDirectory: String
    /// Environment variables added to the workers' environment (predictor.env, .env, CORTEX_*).
    public var environment: [String: String]
    /// The `CORTEX_WORKER_SPEC` JSON (`docs/PROTOCOL.md`, "Launching a worker").
    public var workerSpecJSON: String
    /// `predictor.processes_per_replica`.
    public var processes: Int
    /// `predictor.threads_per_process`.
    public var threadsPerProcess: Int
    /// Requests a worker may hold beyond its threads, so frames can be pipelined. `nil` picks the
    /// default: a deep window (32) for a lone worker, where it only saves syscalls, and a shallow one
    /// (2) when there are several, so queued work waits in the front for whichever worker frees up
    /// first instead of behind a busy one.
    public var prefetch: Int
    /// Requests in flight plus queued beyond which new ones are refused (`max_replica_concurrency`).
    public var admissionLimit: Int?
    /// How long a stopping worker may take to finish what it holds before it is killed.
    public var shutdownGrace: Double
    /// How long a queued request may wait while no worker of the API is ready before it gets 503.
    public var noWorkerTimeout: Double
    /// When to respawn workers that exit.
    public var respawnPolicy: RespawnPolicy
    /// (A Python predictor with `server_side_batching`) how the front forms batches; `nil`: requests
    /// go one by one. TensorFlow/ONNX batching happens inside the worker and leaves this `nil`.
    public var batching: BatchPolicy?

    public init(
        apiName: String, pythonExecutable: String, projectDirectory: String, environment: [String: String],
        workerSpecJSON: String, processes: Int, threadsPerProcess: Int, prefetch: Int? = nil,
        admissionLimit: Int? = nil, shutdownGrace: Double = 30, noWorkerTimeout: Double = 10,
        respawnPolicy: RespawnPolicy = RespawnPolicy(), batching: BatchPolicy? = nil
    ) {
        self.batching = batching
        self.noWorkerTimeout = noWorkerTimeout
        self.respawnPolicy = respawnPolicy
        self.apiName = apiName
        self.pythonExecutable = pythonExecutable
        self.projectDirectory = projectDirectory
        self.environment = environment
        self.workerSpecJSON = workerSpecJSON
        self.processes = processes
        self.threadsPerProcess = threadsPerProcess
        self.prefetch = prefetch ?? (processes == 1 ? 32 : 2)
        self.admissionLimit = admissionLimit
        self.shutdownGrace = shutdownGrace
    }

    /// How many requests one worker holds at most — with batching, how many batches: one per
    /// thread, no prefetch (a prefetched batch would be a batch sent before it could grow).
    var workerCapacity: Int { batching == nil ? threadsPerProcess + prefetch : threadsPerProcess }
}
