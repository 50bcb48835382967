import DequeModule

/// The replica autoscaling decision of one API: Cortex's algorithm (`docs/CORTEX-COMPATIBILITY.md`,
/// section 8) as a pure value type, with no clock and no I/O.
///
/// A controller feeds it the API's in-flight count (queued + running, summed over its replicas) about
/// once a second with ``record(inFlight:at:)`` and asks ``decide(current:now:)`` every 10 s; it applies
/// the returned ``Decision/replicas``. Times are seconds on any monotonic clock; the autoscaler is
/// created, with its start time, on every (re)deploy of the API, as Cortex recreated it.
///
/// The signal: samples are grouped into 10 s buckets counted from `start` (bucket *k* holds the samples
/// of `[start + 10k, start + 10k + 10)` and is stamped with its start); a bucket's value is the mean of
/// its samples. A decision takes the buckets of the last `2 × window`, newest first, skips to the
/// oldest one stamped less than 20 s before `now` (none: no decision), and averages up to
/// `window / 10 s` buckets from there.
///
/// The decision: steps 1–4 of section 8 (ratio to `target_replica_concurrency`, tolerance on the
/// unrounded ratio, step limits from the factors, clamping), the recommendation recorded, then the
/// stabilization periods, counted from `start` as well:
/// - scaling **down** goes no lower than the largest recommendation of the last
///   `downscale_stabilization_period` (and not at all before that period has passed since `start`);
/// - scaling **up** goes no higher than the smallest recommendation of the last
///   `upscale_stabilization_period` (and not at all before that period has passed since `start`).
///
/// Each stabilization applies in its own direction only, as Cortex documented them and as Kubernetes'
/// HPA applies them. Cortex's code applied both bounds one after the other to every recommendation,
/// which reduces to "the smallest recommendation of the upscale period" and made the downscale period
/// ineffective; that is the one place this type departs from Cortex's code.
///
/// Beyond Cortex, `minReplicas` may be 0: the recommendation may then be 0 (an idle window), so an API
/// scales to zero once every recommendation of the downscale stabilization period was 0; and while at
/// zero replicas, a latest sample above 0 (a request waiting) asks for one replica at once, whatever
/// the stabilization periods (``Decision/Reason/wakeFromZero``).
public struct Autoscaler: Sendable {
    /// The API's autoscaling settings (`cortex.yaml`'s `autoscaling` section; durations in seconds).
    public struct Configuration: Sendable, Equatable {
        public var minReplicas: Int
        public var maxReplicas: Int
        public var initReplicas: Int
        /// The in-flight requests one replica should carry (`target_replica_concurrency`).
        public var targetReplicaConcurrency: Double
        /// Seconds of buckets averaged per decision (a multiple of 10, at least 10).
        public var window: Double
        public var downscaleStabilizationPeriod: Double
        public var upscaleStabilizationPeriod: Double
        public var maxDownscaleFactor: Double
        public var maxUpscaleFactor: Double
        public var downscaleTolerance: Double
        public var upscaleTolerance: Double

        /// Cortex's defaults for every field not given.
        public init(
            minReplicas: Int = 1, maxReplicas: Int = 100, initReplicas: Int? = nil,
            targetReplicaConcurrency: Double = 1, window: Double = 60,
            downscaleStabilizationPeriod: Double = 300, upscaleStabilizationPeriod: Double = 60,
            maxDownscaleFactor: Double = 0.75, maxUpscaleFactor: Double = 1.5,
            downscaleTolerance: Double = 0.05, upscaleTolerance: Double = 0.05
        ) {
            self.minReplicas = minReplicas
            self.maxReplicas = maxReplicas
            self.initReplicas = initReplicas ?? minReplicas
            self.targetReplicaConcurrency = targetReplicaConcurrency
            self.window = window
            self.downscaleStabilizationPeriod = downscaleStabilizationPeriod
            self.upscaleStabilizationPeriod = upscaleStabilizationPeriod
            self.maxDownscaleFactor = maxDownscaleFactor
            self.maxUpscaleFactor = maxUpscaleFactor
            self.downscaleTolerance = downscaleTolerance
            self.upscaleTolerance = upscaleTolerance
        }

        /// The problems that make these settings unusable (empty when valid). `cortex.yaml` validation
        /// reports the same rules with the file's line numbers; this is the type's own guard.
        public var problems: [String] {
            var problems: [String] = []
            if minReplicas < 0 { problems.append("min_replicas must be ≥ 0, got \(minReplicas)") }
            if maxReplicas < 1 { problems.append("max_replicas must be ≥ 1, got \(maxReplicas)") }
            if minReplicas > maxReplicas {
                problems.append("min_replicas (\(minReplicas)) must be ≤ max_replicas (\(maxReplicas))")
            }
            if !(targetReplicaConcurrency > 0) || !targetReplicaConcurrency.isFinite {
                problems.append("target_replica_concurrency must be > 0, got \(targetReplicaConcurrency)")
            }
            if !(window >= Autoscaler.bucketSeconds) || !window.isFinite {
                problems.append("window must be ≥ 10s, got \(window)s")
            }
            if !(downscaleStabilizationPeriod >= 0) {
                problems.append("downscale_stabilization_period must be ≥ 0s, got \(downscaleStabilizationPeriod)s")
            }
            if !(upscaleStabilizationPeriod >= 0) {
                problems.append("upscale_stabilization_period must be ≥ 0s, got \(upscaleStabilizationPeriod)s")
            }
            if !(maxDownscaleFactor >= 0 && maxDownscaleFactor < 1) {
                problems.append("max_downscale_factor must be in [0, 1), got \(maxDownscaleFactor)")
            }
            if !(maxUpscaleFactor > 1) || !maxUpscaleFactor.isFinite {
                problems.append("max_upscale_factor must be > 1, got \(maxUpscaleFactor)")
            }
            if !(downscaleTolerance >= 0 && downscaleTolerance < 1) {
                problems.append("downscale_tolerance must be in [0, 1), got \(downscaleTolerance)")
            }
            if !(upscaleTolerance >= 0) || !upscaleTolerance.isFinite {
                problems.append("upscale_tolerance must be ≥ 0, got \(upscaleTolerance)")
            }
            return problems
        }
    }

    /// Settings an autoscaler cannot work with; `description` lists every problem on one line.
    public struct InvalidConfiguration: Error, Sendable, Equatable, CustomStringConvertible {
        public var problems: [String]
        public var description: String {
            "invalid autoscaling settings: " + problems.joined(separator: "; ")
                + " (fix the API's autoscaling section in cortex.yaml)"
        }
    }

    /// One tick's outcome.
    public struct Decision: Sendable, Equatable {
        /// Why the replica count is what it is.
        public enum Reason: Sendable, Equatable {
            /// No bucket stamped within the last 20 s: nothing decided, `replicas == current`.
            case noRecentData
            /// Cortex's decision (section 8, steps 1–7).
            case computed
            /// At zero replicas with requests waiting: one replica (or `minReplicas`), at once.
            case wakeFromZero
        }

        public var reason: Reason
        /// The replica count when the tick began.
        public var current: Int
        /// The replica count to run from now on (equal to `current` when nothing changes).
        public var replicas: Int
        /// The averaged in-flight count the decision used (`nil` without recent data).
        public var averageInFlight: Double?
        /// The recommendation recorded for stabilization (steps 1–4; `nil` without recent data).
        public var recommendation: Int?

        /// Whether the replica count changes.
        public var changes: Bool { replicas != current }

        /// Cortex's log line for a change, `autoscaling event: 2 -> 3`, or `nil`.
        public var event: String? { changes ? "autoscaling event: \(current) -> \(replicas)" : nil }
    }

    /// Width of a bucket and interval between decisions, in seconds (Cortex's tick).
    public static let bucketSeconds: Double = 10
    /// A bucket stamped this many seconds before `now`, or earlier, is not recent.
    public static let recentSeconds: Double = 20

    public let configuration: Configuration
    /// When this autoscaler was created (the API's deploy); the stabilization periods count from here.
    public let start: Double

    private struct Bucket {
        var index: Int
        var sum: Double
        var count: Int
        var mean: Double { sum / Double(count) }
    }

    private struct Record {
        var time: Double
        var recommendation: Int
    }

    private var buckets: Deque<Bucket> = []
    private var records: Deque<Record> = []
    private var latestSample: (time: Double, inFlight: Double)?

    /// An autoscaler for settings already validated by `cortex.yaml`'s rules.
    public init(configuration: Configuration, start: Double) throws(InvalidConfiguration) {
        let problems = configuration.problems
        guard problems.isEmpty else { throw InvalidConfiguration(problems: problems) }
        self.configuration = configuration
        self.start = start
    }

    /// The replica count a (re)deployed API starts with: the previous deployment's count when it had
    /// one above 0, else `init_replicas`, clamped to [`min_replicas`, `max_replicas`].
    public static func initialReplicas(previous: Int?, configuration: Configuration) -> Int {
        let wanted = previous.flatMap { $0 > 0 ? $0 : nil } ?? configuration.initReplicas
        return min(max(wanted, configuration.minReplicas), configuration.maxReplicas)
    }

    /// Records one sample of the API's in-flight requests (queued + running, all replicas) taken at
    /// `time`. Samples are expected about once a second, in time order.
    public mutating func record(inFlight: Double, at time: Double) {
        let index = Int(((time - start) / Self.bucketSeconds).rounded(.down))
        if time >= latestSample?.time ?? -Double.infinity { latestSample = (time, inFlight) }
        if let position = buckets.lastIndex(where: { $0.index <= index }), buckets[position].index == index {
            buckets[position].sum += inFlight
            buckets[position].count += 1
        } else {
            let position = (buckets.lastIndex(where: { $0.index < index }) ?? -1) + 1
            buckets.insert(Bucket(index: index, sum: inFlight, count: 1), at: position)
        }
        // Keep what a decision at `time` could still read (the last 2 × window, with a tick's margin).
        let oldest = time - 2 * configuration.window - Self.recentSeconds - Self.bucketSeconds
        while let first = buckets.first, stamp(first) < oldest { buckets.removeFirst() }
    }

    /// The averaged in-flight count a decision at `now` reads, or `nil` when no bucket is recent.
    public func averageInFlight(now: Double) -> Double? {
        // Newest first, within the last 2 × window, none from the future.
        let candidates = buckets.reversed().filter {
            stamp($0) <= now && now - stamp($0) <= 2 * configuration.window
        }
        var first = -1
        for (position, bucket) in candidates.enumerated() {
            guard now - stamp(bucket) < Self.recentSeconds else { break }
            first = position
        }
        guard first >= 0 else { return nil }
        let steps = max(1, Int((configuration.window / Self.bucketSeconds).rounded(.down)))
        let used = candidates[first..<min(first + steps, candidates.count)]
        return used.reduce(0) { $0 + $1.mean } / Double(used.count)
    }

    /// The decision of the tick at `now`, with the API running `current` replicas. Records the
    /// recommendation (stabilization remembers it), so call it once per tick.
    public mutating func decide(current: Int, now: Double) -> Decision {
        let c = configuration
        if current == 0, let sample = latestSample, sample.inFlight > 0, sample.time <= now,
            now - sample.time < Self.recentSeconds
        {
            let wake = min(max(1, c.minReplicas), c.maxReplicas)
            remember(wake, at: now)
            return Decision(
                reason: .wakeFromZero, current: current, replicas: wake, averageInFlight: averageInFlight(now: now),
                recommendation: wake)
        }
        guard let average = averageInFlight(now: now) else {
            return Decision(
                reason: .noRecentData, current: current, replicas: current, averageInFlight: nil,
                recommendation: nil)
        }
        let recommendation = Self.recommendation(averageInFlight: average, current: current, configuration: c)
        remember(recommendation, at: now)

        var request = recommendation
        if request < current {
            if now - start < c.downscaleStabilizationPeriod {
                request = current
            } else {
                let floor = maxRecorded(since: now - c.downscaleStabilizationPeriod)
                request = min(current, max(request, floor))
            }
        } else if request > current {
            if now - start < c.upscaleStabilizationPeriod {
                request = current
            } else {
                let ceiling = minRecorded(since: now - c.upscaleStabilizationPeriod)
                request = max(current, min(request, ceiling))
            }
        }
        request = min(max(request, c.minReplicas), c.maxReplicas)
        return Decision(
            reason: .computed, current: current, replicas: request, averageInFlight: average,
            recommendation: recommendation)
    }

    /// Steps 1–4 of section 8: the recommendation for an averaged in-flight count, before stabilization.
    public static func recommendation(averageInFlight: Double, current: Int, configuration c: Configuration) -> Int {
        let raw = averageInFlight / c.targetReplicaConcurrency
        var recommendation = Int(raw.rounded(.up))
        let cur = Double(current)
        if raw < cur, raw > cur * (1 - c.downscaleTolerance) { recommendation = current }
        if raw > cur, raw < cur * (1 + c.upscaleTolerance) { recommendation = current }
        let downscaleFloor = min(current - 1, Int((cur * c.maxDownscaleFactor).rounded(.up)))
        recommendation = max(recommendation, downscaleFloor)
        let upscaleCeiling = max(current + 1, Int((cur * c.maxUpscaleFactor).rounded(.up)))
        recommendation = min(recommendation, upscaleCeiling)
        // Cortex never recommended fewer than 1; with min_replicas 0 (beyond Cortex) 0 is allowed.
        recommendation = max(recommendation, c.minReplicas == 0 ? 0 : 1)
        return min(max(recommendation, c.minReplicas), c.maxReplicas)
    }

    private func stamp(_ bucket: Bucket) -> Double {
        start + Double(bucket.index) * Self.bucketSeconds
    }

    private mutating func remember(_ recommendation: Int, at now: Double) {
        records.append(Record(time: now, recommendation: recommendation))
        let keep = max(configuration.downscaleStabilizationPeriod, configuration.upscaleStabilizationPeriod)
        while let first = records.first, now - first.time > keep { records.removeFirst() }
    }

    /// The largest recommendation recorded at or after `time` (the one just recorded included).
    private func maxRecorded(since time: Double) -> Int {
        records.reduce(Int.min) { $1.time >= time ? max($0, $1.recommendation) : $0 }
    }

    /// The smallest recommendation recorded at or after `time` (the one just recorded included).
    private func minRecorded(since time: Double) -> Int {
        records.reduce(Int.max) { $1.time >= time ? min($0, $1.recommendation) : $0 }
    }
}
