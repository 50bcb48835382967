/// When the front sends queued requests to a worker as one batch (a Python predictor with
/// `predictor.server_side_batching`): pure, table-tested.
///
/// A batch leaves the queue when a worker has a free slot (a worker holds `threads_per_process`
/// batches) and either it is full (`maxBatchSize` requests wait) or its oldest request has waited
/// `interval` seconds. With `interval` `nil` (the adaptive mode) there is no wait at all: a free slot
/// takes whatever is queued, up to `maxBatchSize` — one request at a time under light load, bigger
/// batches as the load grows, since requests queue while the worker is busy.
public struct BatchPolicy: Sendable, Equatable {
    /// The most requests in one batch (at least 1).
    public var maxBatchSize: Int
    /// Seconds the oldest request may wait for its batch to fill; `nil`: adaptive.
    public var interval: Double?

    public init(maxBatchSize: Int, interval: Double?) {
        self.maxBatchSize = max(1, maxBatchSize)
        self.interval = interval
    }

    /// Whether a batch should leave now, given how many requests are queued and since when the oldest
    /// has waited (the caller's clock, seconds).
    public func isDue(queued: Int, oldestSince: Double, now: Double) -> Bool {
        guard queued > 0 else { return false }
        guard let interval else { return true }
        // A timer set for the deadline may fire a hair early on some clocks: 1 µs of slack.
        return queued >= maxBatchSize || now - oldestSince >= interval - 1e-6
    }
}
