import CoreMetrics
import Foundation
import Synchronization

/// One entry of a worker's `METRICS` frame (`docs/PROTOCOL.md`, "METRICS"): a predictor's
/// `metrics_client` call (counters summed since the previous frame, a gauge's last value, one histogram
/// observation) or one of the runtime's model-load metrics.
public struct MetricSample: Sendable, Equatable, Decodable {
    /// What the value means.
    public enum Kind: String, Sendable, Decodable, CustomStringConvertible {
        /// Added to a counter (never negative).
        case counter
        /// The gauge's new value.
        case gauge
        /// One observation of a histogram.
        case histogram

        public var description: String { rawValue }
    }

    public var kind: Kind
    public var name: String
    public var value: Double
    public var tags: [String: String]

    public init(kind: Kind, name: String, value: Double, tags: [String: String] = [:]) {
        self.kind = kind
        self.name = name
        self.value = value
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey { case kind, name, value, tags }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(Kind.self, forKey: .kind)
        name = try container.decode(String.self, forKey: .name)
        value = try container.decode(Double.self, forKey: .value)
        tags = try container.decodeIfPresent([String: String].self, forKey: .tags) ?? [:]
    }
}

/// A `METRICS` frame whose metadata is not `{"metrics": [{"kind", "name", "value", "tags"}]}` with a known
/// kind, a string name, a number value and string tag values: the worker runtime never sends one, so the
/// whole frame is ignored.
public struct MalformedMetricsFrame: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { "malformed METRICS frame: \(reason)" }
}

/// The `METRICS` frame's metadata (`docs/PROTOCOL.md`, "METRICS").
public enum MetricsFrame {
    struct Document: Decodable {
        var metrics: [MetricSample]
    }

    /// Decodes the entries of a `METRICS` frame's metadata; the names, tags and values are checked later,
    /// entry by entry, by `PredictorMetricsCatalog`.
    public static func decode(_ meta: some Collection<UInt8>) throws(MalformedMetricsFrame) -> [MetricSample] {
        do {
            return try JSONDecoder().decode(Document.self, from: Data(meta)).metrics
        } catch let error as DecodingError {
            throw MalformedMetricsFrame(reason: Self.describe(error))
        } catch {
            throw MalformedMetricsFrame(reason: "\(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
            .dataCorrupted(let context):
            let at = path(context)
            return at.isEmpty ? context.debugDescription : "at \(at): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Why one metric entry is not recorded. `code` names the rule, as in the shared vectors
/// (`Tests/vectors/metrics.json`) and the Python runtime's `MetricsError`.
public enum PredictorMetricsError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidName(String)
    case reservedName(String)
    case reservedSuffix(String, suffix: String)
    case invalidLabel(metric: String, label: String)
    case reservedLabel(metric: String, label: String)
    case tooManyTags(metric: String, count: Int)
    case tagValue(metric: String, label: String)
    case negativeIncrement(metric: String, value: Double)
    case notFinite(metric: String)
    case kindConflict(metric: String, existing: MetricSample.Kind, requested: MetricSample.Kind)
    case runtimeLabels(metric: String, expected: String)
    case tooManySeries(limit: Int)

    public var code: String {
        switch self {
        case .invalidName: "invalid-name"
        case .reservedName: "reserved-name"
        case .reservedSuffix: "reserved-suffix"
        case .invalidLabel: "invalid-label"
        case .reservedLabel: "reserved-label"
        case .tooManyTags: "too-many-tags"
        case .tagValue: "tag-value"
        case .negativeIncrement: "negative-increment"
        case .notFinite: "not-finite"
        case .kindConflict: "kind-conflict"
        case .runtimeLabels: "runtime-labels"
        case .tooManySeries: "too-many-series"
        }
    }

    /// The metric it is about (nil for the series cap, which is about the API).
    public var metric: String? {
        switch self {
        case .invalidName(let name), .reservedName(let name), .reservedSuffix(let name, _): name
        case .invalidLabel(let name, _), .reservedLabel(let name, _), .tooManyTags(let name, _),
            .tagValue(let name, _), .negativeIncrement(let name, _), .notFinite(let name),
            .kindConflict(let name, _, _), .runtimeLabels(let name, _):
            name
        case .tooManySeries: nil
        }
    }

    public var description: String {
        let limits = PredictorMetricsCatalog.self
        switch self {
        case .invalidName(let name):
            return
                "metric name \(name.debugDescription) is not a valid Prometheus metric name (letters, digits, '_' and ':', not starting with a digit, at most \(limits.maxNameLength) characters)"
        case .reservedName(let name):
            return "metric name \(name.debugDescription) is reserved: names starting with 'cortex_' are Cortex's own"
        case .reservedSuffix(let name, let suffix):
            return "metric name \(name.debugDescription): the suffix '\(suffix)' is reserved"
        case .invalidLabel(let metric, let label):
            return
                "metric \(metric): tag name \(label.debugDescription) is not a valid Prometheus label name (letters, digits and '_', not starting with a digit)"
        case .reservedLabel(let metric, let label):
            return
                "metric \(metric): tag name \(label.debugDescription) is reserved ('api' is the API's name; 'le', 'quantile' and '__…' belong to Prometheus)"
        case .tooManyTags(let metric, let count):
            return "metric \(metric): \(count) tags, at most \(limits.maxTags) are allowed"
        case .tagValue(let metric, let label):
            return "metric \(metric): the value of tag \(label) is longer than \(limits.maxTagValueLength) characters"
        case .negativeIncrement(let metric, let value):
            return "counter \(metric): increment by \(value); a counter only goes up"
        case .notFinite(let metric):
            return "metric \(metric): the value is not finite"
        case .kindConflict(let metric, let existing, let requested):
            return
                "metric \(metric) is a \(existing); recording it as a \(requested) is refused (a metric name keeps one type across all APIs)"
        case .runtimeLabels(let metric, let expected):
            return "runtime metric \(metric) must be \(expected)"
        case .tooManySeries(let limit):
            return
                "more than \(limit) distinct predictor metric series (name + tags); new series are dropped — use fewer distinct tag values"
        }
    }
}

/// What the front accepts from workers' `METRICS` frames (pure): the naming rules of the shared vectors,
/// one type per metric name across every API (the Prometheus registry is one), and at most
/// `seriesLimit` distinct series per API for the predictor's own metrics (and as many again for the
/// runtime's), so a predictor cannot grow the front's memory without bound.
public struct PredictorMetricsCatalog: Sendable {
    public static let defaultSeriesLimit = 1000
    public static let maxNameLength = 128
    public static let maxTags = 16
    public static let maxTagValueLength = 1024
    static let reservedPrefix = "cortex_"
    static let reservedLabels: Set<String> = ["api", "le", "quantile"]
    static let histogramSuffixes = ["_bucket", "_sum", "_count"]

    /// One time series: the API, the Prometheus name and the tags, sorted by name.
    public struct Series: Sendable, Hashable {
        public var api: String
        public var name: String
        public var tags: [Tag]

        public struct Tag: Sendable, Hashable {
            public var name: String
            public var value: String
        }

        /// swift-metrics dimensions: `api` first, then the tags.
        public var dimensions: [(String, String)] { [("api", api)] + tags.map { ($0.name, $0.value) } }
    }

    /// An entry the front records.
    public struct Admitted: Sendable, Equatable {
        public var kind: MetricSample.Kind
        public var series: Series
        public var value: Double
        /// The first entry of this series: its swift-metrics handle is to be made.
        public var isNewSeries: Bool
        /// The first entry of this metric name: the `HELP` text to give it (nil for the runtime's own
        /// metrics, whose help is in `MetricNames`).
        public var help: String?
    }

    public let seriesLimit: Int
    /// Kind by name (as the predictor called it and as exposed).
    private var kinds: [String: MetricSample.Kind] = [:]
    private var series: [String: Set<Series>] = [:]
    private var runtimeSeries: [String: Set<Series>] = [:]

    public init(seriesLimit: Int = defaultSeriesLimit) {
        self.seriesLimit = seriesLimit
    }

    /// The Prometheus name: a counter's gets `_total` unless it has it.
    public static func exposedName(kind: MetricSample.Kind, name: String) -> String {
        kind == .counter && !name.hasSuffix("_total") ? name + "_total" : name
    }

    /// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*` (colons only with `allowColon`).
    static func isValidName(_ name: String, allowColon: Bool) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maxNameLength else { return false }
        func letter(_ b: UInt8) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (allowColon && b == 0x3A)
        }
        return letter(first) && bytes.dropFirst().allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// The runtime's own metrics (model loads) and the tags they carry.
    static let runtimeMetrics: [String: (kind: MetricSample.Kind, tags: Set<String>, expected: String)] = [
        MetricNames.modelLoads: (
            .counter, ["model", "version", "outcome"], "a counter tagged model, version and outcome (ok or error)"
        ),
        MetricNames.modelLoadSeconds: (.histogram, ["model"], "a histogram tagged model"),
    ]

    /// Checks one entry from `api`'s workers: what to record, or why not.
    public mutating func admit(_ sample: MetricSample, api: String) -> Result<Admitted, PredictorMetricsError> {
        let name = sample.name
        if let runtime = Self.runtimeMetrics[name] {
            guard sample.kind == runtime.kind, Set(sample.tags.keys) == runtime.tags,
                sample.tags["outcome"].map({ $0 == "ok" || $0 == "error" }) ?? true
            else { return .failure(.runtimeLabels(metric: name, expected: runtime.expected)) }
        } else {
            guard Self.isValidName(name, allowColon: true) else { return .failure(.invalidName(name)) }
        }
        let exposed = Self.exposedName(kind: sample.kind, name: name)
        let isRuntime = Self.runtimeMetrics[name] != nil
        if !isRuntime {
            if name.hasPrefix(Self.reservedPrefix) || exposed.hasPrefix(Self.reservedPrefix) {
                return .failure(.reservedName(name))
            }
            if let suffix = Self.histogramSuffixes.first(where: { name.hasSuffix($0) }) {
                return .failure(.reservedSuffix(name, suffix: suffix))
            }
            if sample.kind != .counter && name.hasSuffix("_total") {
                return .failure(.reservedSuffix(name, suffix: "_total"))
            }
        }
        guard sample.tags.count <= Self.maxTags else {
            return .failure(.tooManyTags(metric: name, count: sample.tags.count))
        }
        for (label, value) in sample.tags {
            guard Self.isValidName(label, allowColon: false) else {
                return .failure(.invalidLabel(metric: name, label: label))
            }
            if Self.reservedLabels.contains(label) || label.hasPrefix("__") {
                return .failure(.reservedLabel(metric: name, label: label))
            }
            if value.count > Self.maxTagValueLength { return .failure(.tagValue(metric: name, label: label)) }
        }
        guard sample.value.isFinite else { return .failure(.notFinite(metric: name)) }
        if sample.kind == .counter && sample.value < 0 {
            return .failure(.negativeIncrement(metric: name, value: sample.value))
        }
        if !isRuntime {
            for known in [name, exposed] {
                if let existing = kinds[known], existing != sample.kind {
                    return .failure(.kindConflict(metric: name, existing: existing, requested: sample.kind))
                }
            }
        }
        let key = Series(
            api: api, name: exposed,
            tags: sample.tags.sorted { $0.key < $1.key }.map { Series.Tag(name: $0.key, value: $0.value) })
        let (isKnown, count) = isRuntime ? Self.lookup(key, in: runtimeSeries[api]) : Self.lookup(key, in: series[api])
        let isNew = !isKnown
        if isNew {
            guard count < seriesLimit else { return .failure(.tooManySeries(limit: seriesLimit)) }
            if isRuntime {
                runtimeSeries[api, default: []].insert(key)
            } else {
                series[api, default: []].insert(key)
            }
        }
        var help: String?
        if !isRuntime && kinds[exposed] == nil {
            help = "Recorded by the predictor of api \(api)."
            kinds[name] = sample.kind
            kinds[exposed] = sample.kind
        }
        return .success(
            Admitted(kind: sample.kind, series: key, value: sample.value, isNewSeries: isNew, help: help))
    }

    private static func lookup(_ key: Series, in set: Set<Series>?) -> (known: Bool, count: Int) {
        (set?.contains(key) ?? false, set?.count ?? 0)
    }

    /// Distinct predictor series of `api` so far.
    public func seriesCount(api: String) -> Int { series[api]?.count ?? 0 }
}

/// Records workers' `METRICS` entries through swift-metrics (a counter, a gauge, or a histogram:
/// `Recorder(aggregate: true)`) with the dimension `api` plus the entry's tags, after
/// `PredictorMetricsCatalog` has accepted them. One per process, like the metrics registry.
public final class PredictorMetricsRecorder: Sendable {
    /// The process's recorder (the swift-metrics backend is process-wide too).
    public static let shared = PredictorMetricsRecorder()

    enum Handle {
        case counter(FloatingPointCounter)
        case gauge(Gauge)
        case histogram(Recorder)
    }

    struct State {
        var catalog: PredictorMetricsCatalog
        var handles: [PredictorMetricsCatalog.Series: Handle] = [:]
        var warned: Set<String> = []
    }

    private let state: Mutex<State>
    private let factory: (any MetricsFactory)?
    /// Distinct refusals reported, at most (each is reported once).
    static let maxWarnings = 1000

    /// `factory`: the swift-metrics backend to record into (nil: the bootstrapped one).
    public init(seriesLimit: Int = PredictorMetricsCatalog.defaultSeriesLimit, factory: (any MetricsFactory)? = nil) {
        self.state = Mutex(State(catalog: PredictorMetricsCatalog(seriesLimit: seriesLimit)))
        self.factory = factory
    }

    /// Records the entries of one `METRICS` frame from a worker of `api`; returns the refusals not
    /// reported before (each distinct one once: the caller logs them as warnings).
    public func record(_ samples: [MetricSample], api: String) -> [PredictorMetricsError] {
        state.withLock { state in
            var refusals: [PredictorMetricsError] = []
            for sample in samples {
                switch state.catalog.admit(sample, api: api) {
                case .failure(let error):
                    let key = "\(api)\u{0}\(error.code)\u{0}\(error.metric ?? "")"
                    if state.warned.count < Self.maxWarnings, state.warned.insert(key).inserted {
                        refusals.append(error)
                    }
                case .success(let admitted):
                    if let help = admitted.help { MetricNames.registerHelp(help, for: admitted.series.name) }
                    let handle = admitted.isNewSeries ? makeHandle(admitted) : state.handles[admitted.series]
                    if admitted.isNewSeries { state.handles[admitted.series] = handle }
                    switch handle {
                    case .counter(let counter): counter.increment(by: admitted.value)
                    case .gauge(let gauge): gauge.record(admitted.value)
                    case .histogram(let recorder): recorder.record(admitted.value)
                    case nil: break
                    }
                }
            }
            return refusals
        }
    }

    private func makeHandle(_ admitted: PredictorMetricsCatalog.Admitted) -> Handle {
        let label = admitted.series.name
        let dimensions = admitted.series.dimensions
        let factory = self.factory ?? MetricsSystem.factory
        switch admitted.kind {
        case .counter: return .counter(FloatingPointCounter(label: label, dimensions: dimensions, factory: factory))
        case .gauge: return .gauge(Gauge(label: label, dimensions: dimensions, factory: factory))
        case .histogram:
            return .histogram(Recorder(label: label, dimensions: dimensions, aggregate: true, factory: factory))
        }
    }
}
