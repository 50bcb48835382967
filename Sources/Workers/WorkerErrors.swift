/// Why a request could not be answered by a worker.
public enum DispatchError: Error, Sendable, Equatable {
    /// Admission refused it: the API already holds `limit` requests.
    case overloaded(limit: Int)
    /// The worker running it died.
    case workerDied(exitDescription: String)
    /// The server is stopping and no worker will take it.
    case shuttingDown
    /// It waited `waited` seconds while no worker of its API was alive (all down or restarting).
    case noWorkerAvailable(waited: Double)
}

/// Why the workers of an API could not start.
public struct WorkerStartupError: Error, Sendable, CustomStringConvertible {
    public var apiName: String
    public var message: String
    public var details: String

    public var description: String {
        details.isEmpty ? "api \(apiName): \(message)" : "api \(apiName): \(message)\n\(details)"
    }
}
