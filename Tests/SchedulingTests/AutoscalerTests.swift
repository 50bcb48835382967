import Testing

@testable import Scheduling

/// A seeded generator (SplitMix64), so a failing property case reproduces from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Drives an autoscaler the way its controller will: one sample a second, a decision every 10 s
/// (aligned with `start`), the decided replica count applied at once.
struct Simulation {
    struct Step {
        var now: Double
        var decision: Autoscaler.Decision
    }

    var autoscaler: Autoscaler
    var current: Int
    var steps: [Step] = []

    init(_ configuration: Autoscaler.Configuration, start: Double = 0, current: Int? = nil) throws {
        autoscaler = try Autoscaler(configuration: configuration, start: start)
        self.current = current ?? Autoscaler.initialReplicas(previous: nil, configuration: configuration)
    }

    /// Runs from `from` (exclusive of decisions at the start itself) through `to`, sampling `load(t)`
    /// every second (`nil`: no sample that second).
    mutating func run(from: Double, to: Double, load: (Double) -> Double?) {
        var t = from
        while t <= to {
            if let value = load(t) { autoscaler.record(inFlight: value, at: t) }
            let sinceStart = t - autoscaler.start
            if sinceStart > 0, sinceStart.truncatingRemainder(dividingBy: Autoscaler.bucketSeconds) == 0 {
                let decision = autoscaler.decide(current: current, now: t)
                steps.append(Step(now: t, decision: decision))
                current = decision.replicas
            }
            t += 1
        }
    }

    /// The replica count after each decision, as (seconds since start, replicas).
    var timeline: [(Double, Int)] { steps.map { ($0.now - autoscaler.start, $0.decision.replicas) } }
}

@Suite struct AutoscalerTests {
    typealias Config = Autoscaler.Configuration

    // MARK: - Steps 1–4: the recommendation

    struct RecommendationCase: Sendable, CustomTestStringConvertible {
        var name: String
        var configuration: Config
        var averageInFlight: Double
        var current: Int
        var expected: Int
        var testDescription: String { name }
    }

    static let recommendations: [RecommendationCase] = [
        // ratio and rounding
        .init(name: "ratio rounds up", configuration: Config(), averageInFlight: 2.2, current: 2, expected: 3),
        .init(
            name: "target concurrency divides", configuration: Config(targetReplicaConcurrency: 4),
            averageInFlight: 12, current: 3, expected: 3),
        .init(
            name: "fractional target", configuration: Config(targetReplicaConcurrency: 0.5),
            averageInFlight: 1.2, current: 3, expected: 3),
        // tolerance, on the unrounded ratio
        .init(
            name: "inside the upscale tolerance: hold (ceil would be 5)", configuration: Config(),
            averageInFlight: 4.1, current: 4, expected: 4),
        .init(
            name: "just past the upscale tolerance", configuration: Config(),
            averageInFlight: 4.3, current: 4, expected: 5),
        .init(
            name: "upscale tolerance 0: any excess counts", configuration: Config(upscaleTolerance: 0),
            averageInFlight: 4.01, current: 4, expected: 5),
        .init(
            name: "inside the downscale tolerance: hold (ceil would be 39)", configuration: Config(),
            averageInFlight: 38.5, current: 40, expected: 40),
        .init(
            name: "past the downscale tolerance", configuration: Config(),
            averageInFlight: 37.5, current: 40, expected: 38),
        .init(
            name: "wide downscale tolerance holds a big drop", configuration: Config(downscaleTolerance: 0.5),
            averageInFlight: 5.5, current: 10, expected: 10),
        .init(
            name: "wide upscale tolerance holds a big rise", configuration: Config(upscaleTolerance: 1),
            averageInFlight: 19, current: 10, expected: 10),
        .init(
            name: "on the band's edge the tolerance does not apply", configuration: Config(upscaleTolerance: 0.5),
            averageInFlight: 6, current: 4, expected: 6),
        // step limits from the factors
        .init(
            name: "upscale limited by the factor", configuration: Config(),
            averageInFlight: 100, current: 4, expected: 6),
        .init(
            name: "upscale by one is always allowed", configuration: Config(),
            averageInFlight: 100, current: 1, expected: 2),
        .init(
            name: "a large upscale factor", configuration: Config(maxUpscaleFactor: 10),
            averageInFlight: 100, current: 4, expected: 40),
        .init(
            name: "downscale limited by the factor", configuration: Config(),
            averageInFlight: 0.1, current: 10, expected: 8),
        .init(
            name: "downscale by one is always allowed", configuration: Config(),
            averageInFlight: 0, current: 2, expected: 1),
        .init(
            name: "downscale factor 0: down to the floor in one step", configuration: Config(maxDownscaleFactor: 0),
            averageInFlight: 0, current: 10, expected: 1),
        // clamping
        .init(
            name: "never below 1 (Cortex)", configuration: Config(), averageInFlight: 0, current: 1, expected: 1),
        .init(
            name: "never below min_replicas", configuration: Config(minReplicas: 3),
            averageInFlight: 0, current: 3, expected: 3),
        .init(
            name: "never above max_replicas", configuration: Config(maxReplicas: 5),
            averageInFlight: 100, current: 4, expected: 5),
        .init(
            name: "a current count above max is brought back", configuration: Config(maxReplicas: 5),
            averageInFlight: 100, current: 9, expected: 5),
        // min_replicas 0 (beyond Cortex)
        .init(
            name: "min 0: an idle window recommends 0", configuration: Config(minReplicas: 0),
            averageInFlight: 0, current: 1, expected: 0),
        .init(
            name: "min 0: from 0, any load recommends 1", configuration: Config(minReplicas: 0),
            averageInFlight: 0.05, current: 0, expected: 1),
        .init(
            name: "min 0: from 0, a heavy load still steps to 1", configuration: Config(minReplicas: 0),
            averageInFlight: 100, current: 0, expected: 1),
        .init(
            name: "min 0: idle from 2 replicas steps to 1 first", configuration: Config(minReplicas: 0),
            averageInFlight: 0, current: 2, expected: 1),
    ]

    @Test(arguments: recommendations)
    func recommendation(_ c: RecommendationCase) {
        #expect(
            Autoscaler.recommendation(
                averageInFlight: c.averageInFlight, current: c.current, configuration: c.configuration)
                == c.expected)
    }

    // MARK: - The signal: buckets, window, recent data

    struct WindowCase: Sendable, CustomTestStringConvertible {
        var name: String
        var window: Double
        /// (time, in-flight) samples; start is 0.
        var samples: [(Double, Double)]
        var now: Double
        var expected: Double?
        var testDescription: String { name }
    }

    /// One sample a second over [from, to), each `value(t)`.
    static func samples(_ from: Int, _ to: Int, _ value: (Int) -> Double) -> [(Double, Double)] {
        (from..<to).map { (Double($0), value($0)) }
    }

    static let windows: [WindowCase] = [
        .init(
            name: "skips the newest (incomplete) bucket, averages window/10 buckets from the last complete one",
            window: 30, samples: samples(0, 61) { Double($0 / 10 + 1) }, now: 60, expected: (6 + 5 + 4) / 3),
        .init(
            name: "a bucket's value is the mean of its samples",
            window: 10, samples: samples(10, 20) { Double($0 - 10) } + [(20, 100)], now: 20, expected: 4.5),
        .init(
            name: "fewer buckets than the window: the ones there are",
            window: 60, samples: samples(0, 21) { $0 < 10 ? 2 : 4 }, now: 20, expected: 3),
        .init(
            name: "the window bounds how many buckets count",
            window: 10, samples: samples(0, 31) { Double($0 / 10) }, now: 30, expected: 2),
        .init(
            name: "missing buckets are skipped, not counted as 0",
            window: 30, samples: samples(0, 10) { _ in 6 } + samples(30, 41) { _ in 2 }, now: 40, expected: 4),
        .init(
            name: "only buckets of the last 2 × window are read",
            window: 20, samples: samples(0, 10) { _ in 50 } + samples(45, 51) { _ in 1 }, now: 50, expected: 1),
        .init(
            name: "with decisions between bucket edges, the oldest bucket under 20 s old comes first",
            window: 20, samples: samples(0, 36) { Double($0 / 10) }, now: 35, expected: (2 + 1) / 2),
        .init(
            name: "no bucket under 20 s old: no data",
            window: 60, samples: samples(0, 21), now: 40, expected: nil),
        .init(
            name: "a bucket 19 s old is recent", window: 60, samples: samples(0, 21) { _ in 7 }, now: 39, expected: 7),
        .init(
            name: "no samples at all: no data", window: 60, samples: [], now: 100, expected: nil),
        .init(
            name: "samples after now are not read", window: 10, samples: samples(50, 60) { _ in 9 }, now: 40,
            expected: nil),
    ]

    static func samples(_ from: Int, _ to: Int) -> [(Double, Double)] { samples(from, to) { _ in 1 } }

    @Test(arguments: windows)
    func averaging(_ c: WindowCase) throws {
        var autoscaler = try Autoscaler(configuration: Config(window: c.window), start: 0)
        for (time, value) in c.samples { autoscaler.record(inFlight: value, at: time) }
        #expect(autoscaler.averageInFlight(now: c.now) == c.expected)
    }

    @Test func noRecentBucketMeansNoDecisionAndNothingRecorded() throws {
        var autoscaler = try Autoscaler(
            configuration: Config(window: 10, downscaleStabilizationPeriod: 0, upscaleStabilizationPeriod: 0), start: 0)
        for t in 0..<21 { autoscaler.record(inFlight: 9, at: Double(t)) }
        let decision = autoscaler.decide(current: 3, now: 40)
        #expect(
            decision
                == .init(reason: .noRecentData, current: 3, replicas: 3, averageInFlight: nil, recommendation: nil))
        #expect(decision.event == nil)
        // Nothing was recorded: with data again, a low load scales down at once (periods 0).
        for t in 41..<51 { autoscaler.record(inFlight: 0, at: Double(t)) }
        #expect(autoscaler.decide(current: 3, now: 60).replicas == 2)
    }

    @Test func samplesArrivingOutOfOrderLandInTheirBucket() throws {
        var autoscaler = try Autoscaler(configuration: Config(window: 20), start: 0)
        for t in stride(from: 19, through: 0, by: -1) { autoscaler.record(inFlight: t < 10 ? 1 : 3, at: Double(t)) }
        #expect(autoscaler.averageInFlight(now: 25) == 2)
    }

    // MARK: - Stabilization

    /// Cortex's defaults scaled down: periods short enough to read a timeline.
    static let quick = Config(
        maxReplicas: 10, window: 10, downscaleStabilizationPeriod: 60, upscaleStabilizationPeriod: 30)

    @Test func noUpscaleBeforeTheUpscalePeriodHasPassedSinceStart() throws {
        var simulation = try Simulation(Self.quick)
        simulation.run(from: 0, to: 40) { _ in 3 }
        // Recommendation 2 (one step) from the first tick; applied once 30 s have passed since start.
        #expect(simulation.timeline.map(\.1) == [1, 1, 2, 2])
        #expect(simulation.steps.map(\.decision.recommendation) == [2, 2, 2, 3])
        #expect(simulation.steps[2].decision.event == "autoscaling event: 1 -> 2")
    }

    @Test func upscaleGoesNoHigherThanTheLowestRecommendationOfThePeriod() throws {
        var simulation = try Simulation(Self.quick)
        simulation.run(from: 0, to: 100) { _ in 3 }
        // 1 → 2 at 30 s; recommendations 3 from 40 s: the 2s of 10–30 s keep it at 2 until 70 s.
        #expect(simulation.timeline.map(\.1) == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    }

    @Test func noDownscaleBeforeTheDownscalePeriodHasPassedSinceStart() throws {
        var simulation = try Simulation(Self.quick, current: 5)
        simulation.run(from: 0, to: 70) { _ in 0 }
        #expect(simulation.timeline.map(\.1) == [5, 5, 5, 5, 5, 4, 4])
    }

    @Test func downscaleGoesNoLowerThanTheHighestRecommendationOfThePeriod() throws {
        var simulation = try Simulation(Self.quick, current: 4)
        // Load 4 for the first 100 s, then 1.
        simulation.run(from: 0, to: 400) { $0 < 100 ? 4 : 1 }
        let timeline = simulation.timeline
        // The last recommendation of 4 is at 100 s (its bucket is 90–100 s): no downscale before 170 s,
        // then one step per downscale period (each step's recommendations hold the next one off).
        #expect(timeline.filter { $0.0 < 170 }.allSatisfy { $0.1 == 4 })
        #expect(timeline.first { $0.0 == 170 }?.1 == 3)
        #expect(timeline.first { $0.0 == 240 }?.1 == 2)
        #expect(timeline.first { $0.0 == 300 }?.1 == 2)
        #expect(timeline.first { $0.0 == 310 }?.1 == 1)
        #expect(timeline.last?.1 == 1)
    }

    /// Cortex's code bounded every recommendation by the downscale floor and then by the upscale ceiling,
    /// which reduces to the upscale period's minimum: one low tick scaled down at once. Here the downscale
    /// period holds.
    @Test func aBriefDipDoesNotScaleDownWithinTheDownscalePeriod() throws {
        let config = Config(
            maxReplicas: 10, window: 10, downscaleStabilizationPeriod: 300, upscaleStabilizationPeriod: 60)
        var simulation = try Simulation(config, current: 4)
        simulation.run(from: 0, to: 400) { t in (330..<340).contains(t) ? 0 : 4 }
        let dip = try #require(simulation.steps.first { $0.now == 340 })
        #expect(dip.decision.recommendation == 3)
        #expect(simulation.steps.allSatisfy { $0.decision.replicas == 4 })
    }

    @Test func periodsOfZeroFollowTheLoadAtEveryTick() throws {
        let config = Config(maxReplicas: 10, window: 10, downscaleStabilizationPeriod: 0, upscaleStabilizationPeriod: 0)
        var simulation = try Simulation(config)
        simulation.run(from: 0, to: 60) { $0 < 30 ? 6 : 0 }
        #expect(simulation.timeline.map(\.1) == [2, 3, 5, 4, 3, 2])
    }

    // MARK: - min_replicas 0 (beyond Cortex)

    @Test func anIdleAPIScalesToZeroAfterTheDownscalePeriod() throws {
        let config = Config(
            minReplicas: 0, window: 10, downscaleStabilizationPeriod: 60, upscaleStabilizationPeriod: 30)
        var simulation = try Simulation(config, current: 1)
        simulation.run(from: 0, to: 80) { _ in 0 }
        #expect(simulation.timeline.map(\.1) == [1, 1, 1, 1, 1, 0, 0, 0])
        #expect(simulation.steps[5].decision.event == "autoscaling event: 1 -> 0")
    }

    @Test func aWaitingRequestWakesAZeroReplicaAPIAtOnce() throws {
        let config = Config(
            minReplicas: 0, window: 60, downscaleStabilizationPeriod: 300, upscaleStabilizationPeriod: 60)
        var autoscaler = try Autoscaler(configuration: config, start: 0)
        for t in 0...14 { autoscaler.record(inFlight: 0, at: Double(t)) }
        autoscaler.record(inFlight: 1, at: 15)
        // 15 s after start: inside both startup periods, and the averaged signal is still ~0.
        let decision = autoscaler.decide(current: 0, now: 15)
        #expect(decision.reason == .wakeFromZero)
        #expect(decision.replicas == 1)
        #expect(decision.event == "autoscaling event: 0 -> 1")

        // The wake counts as a recommendation: no going back to zero within the downscale period.
        var later = try Autoscaler(configuration: config, start: 0)
        for t in 0..<500 { later.record(inFlight: 0, at: Double(t)) }
        later.record(inFlight: 2, at: 500)
        #expect(later.decide(current: 0, now: 500).replicas == 1)
        for t in 501...600 { later.record(inFlight: 0, at: Double(t)) }
        #expect(later.decide(current: 1, now: 600).replicas == 1)
        for t in 601...810 { later.record(inFlight: 0, at: Double(t)) }
        #expect(later.decide(current: 1, now: 810).replicas == 0)
    }

    @Test func anIdleZeroReplicaAPIStaysAtZero() throws {
        var simulation = try Simulation(Config(minReplicas: 0), current: 0)
        simulation.run(from: 0, to: 600) { _ in 0 }
        #expect(simulation.steps.allSatisfy { $0.decision.replicas == 0 && $0.decision.reason == .computed })
    }

    @Test func aStaleWaitingSampleDoesNotWake() throws {
        var autoscaler = try Autoscaler(configuration: Config(minReplicas: 0), start: 0)
        autoscaler.record(inFlight: 1, at: 0)
        #expect(autoscaler.decide(current: 0, now: 30).reason == .noRecentData)
    }

    // MARK: - Initial replicas, configuration

    @Test(
        arguments: [
            (nil, Config(minReplicas: 2, maxReplicas: 8, initReplicas: 3), 3),
            (5, Config(minReplicas: 2, maxReplicas: 8, initReplicas: 3), 5),
            (0, Config(minReplicas: 2, maxReplicas: 8, initReplicas: 3), 3),
            (12, Config(minReplicas: 2, maxReplicas: 8, initReplicas: 3), 8),
            (1, Config(minReplicas: 2, maxReplicas: 8, initReplicas: 3), 2),
            (nil, Config(minReplicas: 0), 0),
            (0, Config(minReplicas: 0, initReplicas: 1), 1),
            (nil, Config(), 1),
        ] as [(Int?, Config, Int)])
    func initialReplicas(previous: Int?, configuration: Config, expected: Int) {
        #expect(Autoscaler.initialReplicas(previous: previous, configuration: configuration) == expected)
    }

    @Test func invalidSettingsAreATypedErrorNamingEachProblem() {
        #expect(throws: Autoscaler.InvalidConfiguration.self) {
            _ = try Autoscaler(configuration: Config(targetReplicaConcurrency: 0), start: 0)
        }
        let error = #expect(throws: Autoscaler.InvalidConfiguration.self) {
            _ = try Autoscaler(configuration: Config(minReplicas: 5, maxReplicas: 3, window: 5), start: 0)
        }
        #expect(error?.problems == ["min_replicas (5) must be ≤ max_replicas (3)", "window must be ≥ 10s, got 5.0s"])
        #expect(
            error?.description
                == "invalid autoscaling settings: min_replicas (5) must be ≤ max_replicas (3); window must be ≥ 10s, got 5.0s (fix the API's autoscaling section in cortex.yaml)"
        )
    }

    // MARK: - Properties over random load sequences

    static func randomConfiguration(_ g: inout SeededGenerator, maxReplicasUpTo: Int = 30) -> Config {
        let minReplicas = Bool.random(using: &g) ? 0 : Int.random(in: 1...3, using: &g)
        let maxReplicas = Int.random(in: max(1, minReplicas)...maxReplicasUpTo, using: &g)
        let periods: [Double] = [0, 10, 20, 30, 60, 120, 300]
        return Config(
            minReplicas: minReplicas, maxReplicas: maxReplicas,
            initReplicas: Int.random(in: minReplicas...maxReplicas, using: &g),
            targetReplicaConcurrency: [0.5, 1, 2, 3, 4, 8].randomElement(using: &g)!,
            window: Double(Int.random(in: 1...12, using: &g) * 10),
            downscaleStabilizationPeriod: periods.randomElement(using: &g)!,
            upscaleStabilizationPeriod: periods.randomElement(using: &g)!,
            maxDownscaleFactor: [0, 0.25, 0.5, 0.75, 0.8].randomElement(using: &g)!,
            maxUpscaleFactor: [1.1, 1.5, 2, 3].randomElement(using: &g)!,
            downscaleTolerance: Bool.random(using: &g) ? 0 : Double.random(in: 0..<0.5, using: &g),
            upscaleTolerance: Bool.random(using: &g) ? 0 : Double.random(in: 0..<0.5, using: &g))
    }

    /// Piecewise-constant load with spikes, idle stretches (up to 10 minutes) and gaps without samples,
    /// over ~25 minutes.
    static func randomLoad(_ g: inout SeededGenerator, start: Double) -> [(until: Double, value: Double?)] {
        var segments: [(until: Double, value: Double?)] = []
        var t = start
        while t < start + 1500 {
            let value: Double? =
                switch Int.random(in: 0..<10, using: &g) {
                case 0: nil
                case 1, 2: 0
                case 3: Double.random(in: 50...200, using: &g)
                default: Double(Int.random(in: 0...80, using: &g)) / 2
                }
            t += Double(Int.random(in: 1...(value == 0 ? 120 : 40), using: &g) * 5)
            segments.append((t, value))
        }
        return segments
    }

    /// Random settings and a random load sequence, run; the same for the same seed.
    static func randomSimulation(seed: Int) throws -> Simulation {
        var g = SeededGenerator(seed: UInt64(seed))
        let config = Self.randomConfiguration(&g)
        let start = Double(Int.random(in: 0...100_000, using: &g))
        let load = Self.randomLoad(&g, start: start)
        var simulation = try Simulation(config, start: start)
        simulation.run(from: start, to: load.last!.until) { t in
            let segment = load.first { t < $0.until } ?? load.last!
            // Jitter around a busy level, as real in-flight counts have; idle is exactly 0.
            return segment.value.map { $0 == 0 ? 0 : max(0, $0 + Double(Int(t) % 3 - 1)) }
        }
        return simulation
    }

    /// The seeds of `safetyProperties` reach every rule, so the properties are not vacuous.
    @Test func randomSequencesExerciseEveryRule() throws {
        var ups = 0
        var downs = 0
        var wakes = 0
        var toZero = 0
        var noData = 0
        var heldDown = 0
        var heldUp = 0
        var atMax = 0
        for seed in 0..<200 {
            let simulation = try Self.randomSimulation(seed: seed)
            let config = simulation.autoscaler.configuration
            for step in simulation.steps {
                let d = step.decision
                switch d.reason {
                case .noRecentData: noData += 1
                case .wakeFromZero: wakes += 1
                case .computed:
                    if d.replicas > d.current { ups += 1 }
                    if d.replicas < d.current { downs += 1 }
                    if d.replicas == 0 && d.current > 0 { toZero += 1 }
                    if let r = d.recommendation, r < d.current, d.replicas == d.current { heldDown += 1 }
                    if let r = d.recommendation, r > d.current, d.replicas == d.current { heldUp += 1 }
                    if d.replicas == config.maxReplicas && d.current < config.maxReplicas { atMax += 1 }
                }
            }
        }
        for (name, count) in [
            ("scale-ups", ups), ("scale-downs", downs), ("wakes from zero", wakes), ("scale-downs to zero", toZero),
            ("ticks without recent data", noData), ("downscales held by stabilization", heldDown),
            ("upscales held by stabilization", heldUp), ("scale-ups to max_replicas", atMax),
        ] {
            #expect(count >= 20, "only \(count) \(name) over 200 random sequences")
        }
    }

    @Test(arguments: 0..<200)
    func safetyProperties(seed: Int) throws {
        let simulation = try Self.randomSimulation(seed: seed)
        let config = simulation.autoscaler.configuration
        let start = simulation.autoscaler.start
        var recorded: [(time: Double, recommendation: Int)] = []
        for step in simulation.steps {
            let d = step.decision
            let context = "seed \(seed), t=\(step.now - start), \(config)"
            if let r = d.recommendation { recorded.append((step.now, r)) }
            // Never outside [min, max].
            #expect(d.replicas >= config.minReplicas && d.replicas <= config.maxReplicas, "\(context)")
            // A single step never exceeds what the factors allow.
            let cur = Double(d.current)
            let upLimit = max(d.current + 1, Int((cur * config.maxUpscaleFactor).rounded(.up)))
            let downLimit = min(d.current - 1, Int((cur * config.maxDownscaleFactor).rounded(.up)))
            #expect(d.replicas <= upLimit && d.replicas >= downLimit, "\(context)")
            if d.reason == .noRecentData { #expect(!d.changes, "\(context)") }
            if d.replicas < d.current {
                // Never down within the downscale period of a higher recommendation (or of start).
                #expect(step.now - start >= config.downscaleStabilizationPeriod, "\(context)")
                let window = recorded.filter { $0.time >= step.now - config.downscaleStabilizationPeriod }
                #expect(window.allSatisfy { $0.recommendation <= d.replicas }, "\(context)")
            }
            if d.replicas > d.current {
                if d.reason == .wakeFromZero {
                    #expect(d.current == 0 && d.replicas == max(1, config.minReplicas), "\(context)")
                } else {
                    // Never up within the upscale period of a lower recommendation (or of start).
                    #expect(step.now - start >= config.upscaleStabilizationPeriod, "\(context)")
                    let window = recorded.filter { $0.time >= step.now - config.upscaleStabilizationPeriod }
                    #expect(window.allSatisfy { $0.recommendation >= d.replicas }, "\(context)")
                }
            }
        }
        #expect(simulation.steps.count > 100)
    }

    @Test(arguments: 0..<100)
    func constantLoadConverges(seed: Int) throws {
        var g = SeededGenerator(seed: UInt64(seed) &+ 1_000_000)
        var config = Self.randomConfiguration(&g, maxReplicasUpTo: 24)
        if seed % 2 == 0 {
            config.downscaleTolerance = 0
            config.upscaleTolerance = 0
        }
        let load = Double(Int.random(in: 0...60, using: &g)) / 2
        var simulation = try Simulation(config, start: 0)
        simulation.run(from: 0, to: 4 * 3600) { _ in load }

        let raw = load / config.targetReplicaConcurrency
        let floor = config.minReplicas == 0 ? 0 : 1
        let expected = min(max(Int(raw.rounded(.up)), floor, config.minReplicas), config.maxReplicas)
        let final = simulation.current
        let context = "seed \(seed), load \(load), \(config), timeline \(simulation.timeline.suffix(20))"
        // Settled: the last 10 minutes of decisions all agree.
        #expect(simulation.steps.suffix(60).allSatisfy { $0.decision.replicas == final }, "\(context)")
        if config.downscaleTolerance == 0 && config.upscaleTolerance == 0 {
            #expect(final == expected, "\(context)")
        } else {
            let c = Double(final)
            let heldByTolerance =
                (c * (1 - config.downscaleTolerance) < raw && raw < c)
                || (c < raw && raw < c * (1 + config.upscaleTolerance))
            #expect(final == expected || heldByTolerance, "\(context)")
        }
    }
}
