import CoreMetrics
import Prometheus
import Synchronization

/// The metrics the project records, by swift-metrics label: what each means (the Prometheus `HELP`
/// line) and, for histograms, its buckets. Code records through swift-metrics (`Counter`, `Timer`,
/// `Gauge`) with these labels; `PrometheusExporter` turns them into Prometheus metrics.
public enum MetricNames {
    /// Requests answered, by API and status class (`code`: 2XX, 3XX, 4XX, 5XX).
    public static let requests = "cortex_requests_total"
    /// Time from a prediction's head to its response.
    public static let requestDuration = "cortex_request_duration_seconds"
    /// Time from a prediction's body being read to its worker starting it.
    public static let queueWait = "cortex_request_queue_seconds"
    /// Time a worker spent on a prediction (from its `START` to its answer).
    public static let workerTime = "cortex_request_worker_seconds"
    /// Predictions held (queued or running), sampled every second.
    public static let inFlight = "cortex_in_flight_requests"
    /// Predictions waiting in the front for a worker slot, sampled every second.
    public static let queued = "cortex_queued_requests"
    /// Worker processes of an API, and how many of them are ready.
    public static let workers = "cortex_workers"
    public static let workersReady = "cortex_workers_ready"
    /// Worker processes respawned after exiting.
    public static let workerRestarts = "cortex_worker_restarts_total"
    /// Replicas of an API taking requests, and how many the autoscaler (or the config) asks for.
    public static let replicas = "cortex_replicas"
    public static let replicasDesired = "cortex_replicas_desired"
    /// Seconds from a request reaching an API scaled to zero to its first replica being ready.
    public static let coldStart = "cortex_cold_start_seconds"
    /// Model loads in workers, by model, version and outcome (`ok`, `error`), reported by the runtime.
    public static let modelLoads = "cortex_model_loads_total"
    /// Seconds each successful model load took, by model.
    public static let modelLoadSeconds = "cortex_model_load_seconds"

    static let help: [String: String] = [
        requests: "Requests answered by the front, by API and status class.",
        requestDuration: "Seconds from a prediction request's head to its response.",
        queueWait: "Seconds a prediction waited between its body being read and a worker starting it.",
        workerTime: "Seconds a worker spent on a prediction, from starting it to its answer.",
        inFlight: "Prediction requests held by an API (queued or running), sampled every second.",
        queued: "Prediction requests waiting in the front for a worker slot, sampled every second.",
        workers: "Worker processes an API runs.",
        workersReady: "Worker processes of an API that are ready to take requests.",
        workerRestarts: "Worker processes respawned after they exited.",
        replicas: "Replicas of an API taking requests.",
        replicasDesired: "Replicas an API should run: the autoscaler's decision, or the configured count.",
        coldStart: "Seconds from a request reaching an API scaled to zero to its first replica being ready.",
        modelLoads: "Model version loads in workers (initial, live-reload and cache-miss loads), by outcome.",
        modelLoadSeconds: "Seconds a worker took to load a model version, for the loads that succeeded.",
    ]

    /// `HELP` texts of metrics named at run time (a predictor's own, via `PredictorMetricsRecorder`).
    private static let registeredHelp = Mutex<[String: String]>([:])

    /// Gives `label` a `HELP` text unless it has one: a metric's text never changes once the registry has
    /// it (swift-prometheus refuses a second, different one).
    public static func registerHelp(_ text: String, for label: String) {
        guard help[label] == nil else { return }
        registeredHelp.withLock { table in
            if table[label] == nil { table[label] = text }
        }
    }

    /// The `HELP` text of `label`: its own, the one registered for it, or a generic one.
    public static func helpText(for label: String) -> String {
        help[label] ?? registeredHelp.withLock { $0[label] } ?? "Recorded as \(label)."
    }

    /// Buckets of the value histograms (`Recorder(aggregate: true)`) by label; others get `valueBuckets`.
    static let valueBucketsByLabel: [String: [Double]] = [
        modelLoadSeconds: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    ]
    /// Buckets of other value histograms (a predictor's `metrics_client.histogram`).
    public static let valueBuckets: [Double] = [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000]

    /// Latency buckets from half a millisecond (a fast echo) to 30 s (a slow model).
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]
}

/// The swift-metrics backend of `cortex serve`: every metric lands in one swift-prometheus registry,
/// with its `HELP` text from `MetricNames` (a predictor's own metric gets "Recorded by the predictor of
/// api X.", registered by `PredictorMetricsRecorder`; any other a generic text, so the exposition always
/// passes `promtool check metrics`). `exposition()` is what
/// `GET /metrics` answers.
public final class PrometheusExporter: MetricsFactory, Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    /// Makes this exporter the process's swift-metrics backend (once per process).
    public func bootstrap() {
        MetricsSystem.bootstrap(self)
    }

    /// The registry in Prometheus's text format (version 0.0.4).
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: label, unitName: "", helpText: MetricNames.helpText(for: label))
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
        -> any FloatingPointCounterHandler
    {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: Self.descriptor(label), labels: dimensions,
            buckets: MetricNames.valueBucketsByLabel[label] ?? MetricNames.valueBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor(label), labels: dimensions, buckets: MetricNames.durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}
