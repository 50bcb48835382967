import CortexMetrics
import Metrics
import Server
import ServiceLifecycle

/// Samples every API's replicas once a second into gauges: requests held and queued, workers, ready
/// workers, and replicas. (The same per-second in-flight signal is what Cortex's autoscaler averaged.)
/// APIs may come and go while it runs (the operator): it follows the registry.
struct MetricsSampler: Service {
    let registry: APIRegistry
    static let interval = Duration.seconds(1)

    private struct Gauges {
        let inFlight: Gauge
        let queued: Gauge
        let workers: Gauge
        let ready: Gauge
        let replicas: Gauge

        init(api: String) {
            let dimensions = [("api", api)]
            inFlight = Gauge(label: MetricNames.inFlight, dimensions: dimensions)
            queued = Gauge(label: MetricNames.queued, dimensions: dimensions)
            workers = Gauge(label: MetricNames.workers, dimensions: dimensions)
            ready = Gauge(label: MetricNames.workersReady, dimensions: dimensions)
            replicas = Gauge(label: MetricNames.replicas, dimensions: dimensions)
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var gauges: [String: Gauges] = [:]
            while !Task.isCancelled {
                let routing = registry.routing
                for name in routing.order {
                    guard let replicas = routing.apis[name]?.replicas else { continue }
                    let gauge = gauges[name] ?? Gauges(api: name)
                    gauges[name] = gauge
                    let pools = replicas.pools
                    let readiness = pools.map(\.readiness)
                    gauge.inFlight.record(replicas.inFlight)
                    gauge.queued.record(pools.map(\.queued).reduce(replicas.parkedCount, +))
                    gauge.workers.record(readiness.map(\.total).reduce(0, +))
                    gauge.ready.record(readiness.map(\.ready).reduce(0, +))
                    gauge.replicas.record(pools.count)
                }
                // An API removed since the last sample: it runs nothing now.
                for (name, gauge) in gauges where routing.apis[name] == nil {
                    for metric in [gauge.inFlight, gauge.queued, gauge.workers, gauge.ready, gauge.replicas] {
                        metric.record(0)
                    }
                    gauges[name] = nil
                }
                try await Task.sleep(for: Self.interval)
            }
        }
    }
}
