import CortexMetrics
import Metrics
import Server
import ServiceLifecycle

/// Samples every API's pool once a second into gauges: requests held and queued, workers and ready
/// workers. (The same per-second in-flight signal is what Cortex's autoscaler averaged.)
struct MetricsSampler: Service {
    let registry: APIRegistry
    static let interval = Duration.seconds(1)

    private struct Gauges {
        let inFlight: Gauge
        let queued: Gauge
        let workers: Gauge
        let ready: Gauge

        init(api: String) {
            let dimensions = [("api", api)]
            inFlight = Gauge(label: MetricNames.inFlight, dimensions: dimensions)
            queued = Gauge(label: MetricNames.queued, dimensions: dimensions)
            workers = Gauge(label: MetricNames.workers, dimensions: dimensions)
            ready = Gauge(label: MetricNames.workersReady, dimensions: dimensions)
        }
    }

    func run() async throws {
        let gauges = registry.order.map { ($0, Gauges(api: $0)) }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for (api, gauge) in gauges {
                    guard let pool = registry.pool(for: api) else { continue }
                    let readiness = pool.readiness
                    gauge.inFlight.record(pool.inFlight)
                    gauge.queued.record(pool.queued)
                    gauge.workers.record(readiness.total)
                    gauge.ready.record(readiness.ready)
                }
                try await Task.sleep(for: Self.interval)
            }
        }
    }
}
