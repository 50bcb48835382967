import CortexMetrics
import Metrics
import NIOCore
import Synchronization

/// The request metrics of one API, made once (swift-metrics handles are looked up when created, not
/// per request): answers by status class and the three latency histograms for `/metrics`, plus the
/// running totals `cortex get` shows (counts by class, mean latency).
public final class APIMetrics: Sendable {
    /// Index `status / 100 - 1`: 1XX … 5XX.
    private let answers: [Counter]
    private let duration: Timer
    private let queueWait: Timer
    private let workerTime: Timer
    private let informational = Atomic<Int>(0)
    private let successful = Atomic<Int>(0)
    private let redirected = Atomic<Int>(0)
    private let clientErrors = Atomic<Int>(0)
    private let serverErrors = Atomic<Int>(0)
    private let totalNanoseconds = Atomic<Int>(0)

    init(api: String) {
        let dimensions = [("api", api)]
        answers = (1...5).map { Counter(label: MetricNames.requests, dimensions: dimensions + [("code", "\($0)XX")]) }
        duration = Timer(label: MetricNames.requestDuration, dimensions: dimensions)
        queueWait = Timer(label: MetricNames.queueWait, dimensions: dimensions)
        workerTime = Timer(label: MetricNames.workerTime, dimensions: dimensions)
    }

    /// Records one answered prediction; queue and worker times when a worker ran it.
    func record(status: Int, total: TimeAmount, queue: TimeAmount?, worker: TimeAmount?) {
        let index = min(max(status / 100, 1), 5) - 1
        answers[index].increment()
        tally(index + 1, adding: 1)
        totalNanoseconds.add(Int(total.nanoseconds), ordering: .relaxed)
        duration.recordNanoseconds(total.nanoseconds)
        if let queue { queueWait.recordNanoseconds(queue.nanoseconds) }
        if let worker { workerTime.recordNanoseconds(worker.nanoseconds) }
    }

    /// Answers so far by status class (`2` → 2XX) and their mean latency in seconds.
    public var totals: (byClass: [Int: Int], meanLatency: Double?) {
        var byClass: [Int: Int] = [:]
        for statusClass in 1...5 { byClass[statusClass] = tally(statusClass) }
        let all = byClass.values.reduce(0, +)
        let mean = all == 0 ? nil : Double(totalNanoseconds.load(ordering: .relaxed)) / Double(all) / 1e9
        return (byClass, mean)
    }

    /// Adds `amount` to the count of a status class (1…5), or reads it (`amount` 0).
    @discardableResult
    private func tally(_ statusClass: Int, adding amount: Int = 0) -> Int {
        switch statusClass {
        case 1: informational.add(amount, ordering: .relaxed).newValue
        case 2: successful.add(amount, ordering: .relaxed).newValue
        case 3: redirected.add(amount, ordering: .relaxed).newValue
        case 4: clientErrors.add(amount, ordering: .relaxed).newValue
        default: serverErrors.add(amount, ordering: .relaxed).newValue
        }
    }
}
