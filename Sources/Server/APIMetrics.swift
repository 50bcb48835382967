import CortexMetrics
import Metrics
import NIOCore

/// The request metrics of one API, made once (swift-metrics handles are looked up when created, not
/// per request): answers by status class and the three latency histograms.
struct APIMetrics: Sendable {
    /// Index `status / 100 - 1`: 1XX … 5XX.
    private let answers: [Counter]
    private let duration: Timer
    private let queueWait: Timer
    private let workerTime: Timer

    init(api: String) {
        let dimensions = [("api", api)]
        answers = (1...5).map { Counter(label: MetricNames.requests, dimensions: dimensions + [("code", "\($0)XX")]) }
        duration = Timer(label: MetricNames.requestDuration, dimensions: dimensions)
        queueWait = Timer(label: MetricNames.queueWait, dimensions: dimensions)
        workerTime = Timer(label: MetricNames.workerTime, dimensions: dimensions)
    }

    /// Records one answered prediction; queue and worker times when a worker ran it.
    func record(status: Int, total: TimeAmount, queue: TimeAmount?, worker: TimeAmount?) {
        answers[min(max(status / 100, 1), 5) - 1].increment()
        duration.recordNanoseconds(total.nanoseconds)
        if let queue { queueWait.recordNanoseconds(queue.nanoseconds) }
        if let worker { workerTime.recordNanoseconds(worker.nanoseconds) }
    }
}
