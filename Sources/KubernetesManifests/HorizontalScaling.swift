import CortexConfig
import Foundation
import Scheduling

/// What scales an API's Deployment on the cluster.
public enum ClusterAutoscaler: String, Sendable, CaseIterable {
    /// An `autoscaling/v2` HorizontalPodAutoscaler: at least one replica, always.
    case hpa
    /// A KEDA `ScaledObject` (KEDA must be installed): may scale to zero (`min_replicas: 0`).
    case keda
}

/// Cortex's autoscaling settings — the local autoscaler's own ``Autoscaler/Configuration`` — mapped onto
/// an `autoscaling/v2` HorizontalPodAutoscaler, or a KEDA `ScaledObject` (pure).
///
/// - target: the per-pod average of `cortex_in_flight_requests` (queued + running, what Cortex's
///   autoscaler averaged), served to the HPA as a Pods metric by a metrics adapter (Prometheus Adapter),
///   or read by KEDA's Prometheus scaler, at `targetReplicaConcurrency`;
/// - `minReplicas`/`maxReplicas` as they are, except that an HPA cannot go below 1: `min_replicas: 0`
///   renders `minReplicas: 1` with a warning unless KEDA renders the scaling;
/// - stabilization: the up and down stabilization periods become the windows of `behavior.scaleUp` /
///   `scaleDown` (the HPA, like ``Autoscaler``, takes the max recommendation over the down window and
///   the min over the up window);
/// - step limits: `maxUpscaleFactor` f allows a rise of (f − 1) × 100 % per period and
///   `maxDownscaleFactor` g a fall of (1 − g) × 100 %, with at least one pod either way
///   (`selectPolicy: Max`): ``scaleUpLimit(current:plan:)`` and ``scaleDownLimit(current:plan:)`` are
///   the HPA's arithmetic, equal to ``Autoscaler/recommendation(averageInFlight:current:configuration:)``'s
///   `max(cur + 1, ⌈cur × f⌉)` and `min(cur − 1, ⌈cur × g⌉)` for factors in whole percents; the period
///   is the local autoscaler's decision interval (``Autoscaler/bucketSeconds``).
///
/// Not mapped by an HPA: `window` (the adapter's query averages over it; KEDA's query carries it) and
/// the tolerances (the HPA's tolerance is cluster-wide, 10 % by default).
public enum HorizontalScaling {
    /// Seconds per policy period: the local autoscaler's decision interval (Cortex's 10 s).
    public static let periodSeconds = Int(Autoscaler.bucketSeconds)
    public static let metricName = "cortex_in_flight_requests"

    /// An API's scaling on the cluster, computed from its autoscaler configuration.
    public struct Plan: Sendable, Equatable {
        public var minReplicas: Int
        public var maxReplicas: Int
        /// The in-flight requests one pod should carry (`target_replica_concurrency`).
        public var targetReplicaConcurrency: Double
        /// The target per pod, as a Kubernetes quantity (`2500m` for 2.5).
        public var target: String
        public var scaleUpWindowSeconds: Int
        public var scaleDownWindowSeconds: Int
        /// Percent of the current replicas one period may add (at least 1, as the HPA requires).
        public var upscalePercent: Int
        /// Percent of the current replicas one period may remove (at least 1).
        public var downscalePercent: Int
        /// Seconds of the in-flight average KEDA's query takes (the configuration's `window`).
        public var windowSeconds: Int
        /// What could not be rendered as configured, one line each.
        public var warnings: [String]
    }

    /// The plan for an API named `apiName` scaled by `autoscaler`.
    public static func plan(_ c: Autoscaler.Configuration, apiName: String, autoscaler: ClusterAutoscaler) -> Plan {
        var warnings: [String] = []
        var minReplicas = c.minReplicas
        if minReplicas < 1 && autoscaler == .hpa {
            minReplicas = 1
            warnings.append(
                "api \(apiName): autoscaling.min_replicas is 0, but a HorizontalPodAutoscaler cannot scale to zero: rendered with minReplicas 1 (render with --autoscaler keda to scale to zero; KEDA must be installed)"
            )
        }
        return Plan(
            minReplicas: minReplicas, maxReplicas: max(c.maxReplicas, 1),
            targetReplicaConcurrency: c.targetReplicaConcurrency, target: targetQuantity(c.targetReplicaConcurrency),
            scaleUpWindowSeconds: Int(c.upscaleStabilizationPeriod.rounded()),
            scaleDownWindowSeconds: Int(c.downscaleStabilizationPeriod.rounded()),
            upscalePercent: upscalePercent(c), downscalePercent: downscalePercent(c),
            windowSeconds: Int(c.window.rounded()), warnings: warnings)
    }

    /// Percent of the current replicas a scale-up may add in one period: (f − 1) × 100, rounded down
    /// (a hair of slack absorbs binary fractions: 1.15 is 15 %), at least 1.
    public static func upscalePercent(_ c: Autoscaler.Configuration) -> Int {
        max(1, Int(((c.maxUpscaleFactor - 1) * 100 + 1e-9).rounded(.down)))
    }

    /// Percent of the current replicas a scale-down may remove in one period: (1 − g) × 100, rounded
    /// down, at least 1 (0.9 is 10 %).
    public static func downscalePercent(_ c: Autoscaler.Configuration) -> Int {
        max(1, Int(((1 - c.maxDownscaleFactor) * 100 + 1e-9).rounded(.down)))
    }

    /// The most replicas the scale-up policies allow one period after `current`, as the HPA computes it
    /// (`selectPolicy: Max` over `Percent`: ⌈cur × (1 + p/100)⌉ and `Pods`: cur + 1), before clamping.
    public static func scaleUpLimit(current: Int, plan: Plan) -> Int {
        max(current + 1, Int((Double(current) * (1 + Double(plan.upscalePercent) / 100)).rounded(.up)))
    }

    /// The fewest replicas the scale-down policies allow one period after `current`, as the HPA
    /// computes it (`Percent`: ⌈cur × (1 − p/100)⌉, `Pods`: cur − 1, the lower one), before clamping.
    public static func scaleDownLimit(current: Int, plan: Plan) -> Int {
        min(current - 1, Int((Double(current) * (1 - Double(plan.downscalePercent) / 100)).rounded(.up)))
    }

    /// The HPA's target per pod: a Kubernetes quantity (milli-units when not whole).
    public static func targetQuantity(_ concurrency: Double) -> String {
        concurrency == concurrency.rounded() ? String(Int(concurrency)) : "\(Int((concurrency * 1000).rounded()))m"
    }

    /// The `behavior` of the HPA (KEDA passes the same one to the HPA it creates).
    static func behavior(_ plan: Plan) -> ManifestValue {
        let policies = { (percent: Int) -> ManifestValue in
            .list([
                .map([
                    ("type", .string("Percent")), ("value", .int(percent)), ("periodSeconds", .int(periodSeconds)),
                ]),
                .map([("type", .string("Pods")), ("value", .int(1)), ("periodSeconds", .int(periodSeconds))]),
            ])
        }
        return .map([
            (
                "scaleUp",
                .map([
                    ("stabilizationWindowSeconds", .int(plan.scaleUpWindowSeconds)),
                    ("selectPolicy", .string("Max")),
                    ("policies", policies(plan.upscalePercent)),
                ])
            ),
            (
                "scaleDown",
                .map([
                    ("stabilizationWindowSeconds", .int(plan.scaleDownWindowSeconds)),
                    ("selectPolicy", .string("Max")),
                    ("policies", policies(plan.downscalePercent)),
                ])
            ),
        ])
    }

    static func autoscaler(_ name: String, plan: Plan, metadata: ManifestValue) -> ManifestValue {
        ManifestRenderer.object(
            "autoscaling/v2", "HorizontalPodAutoscaler", metadata,
            [
                (
                    "spec",
                    .map([
                        (
                            "scaleTargetRef",
                            .map([
                                ("apiVersion", .string("apps/v1")), ("kind", .string("Deployment")),
                                ("name", .string(name)),
                            ])
                        ),
                        ("minReplicas", .int(plan.minReplicas)),
                        ("maxReplicas", .int(plan.maxReplicas)),
                        (
                            "metrics",
                            .list([
                                .map([
                                    ("type", .string("Pods")),
                                    (
                                        "pods",
                                        .map([
                                            ("metric", .map([("name", .string(metricName))])),
                                            (
                                                "target",
                                                .map([
                                                    ("type", .string("AverageValue")),
                                                    ("averageValue", .string(plan.target)),
                                                ])
                                            ),
                                        ])
                                    ),
                                ])
                            ])
                        ),
                        ("behavior", behavior(plan)),
                    ])
                )
            ])
    }

    /// KEDA's Prometheus query: the API's in-flight requests summed over its pods, each averaged over
    /// the configuration's `window` (KEDA divides by the replica count for `AverageValue`).
    public static func kedaQuery(apiName: String, plan: Plan) -> String {
        "sum(avg_over_time(\(metricName){api=\"\(apiName)\"}[\(plan.windowSeconds)s]))"
    }

    /// A KEDA `ScaledObject` (keda.sh/v1alpha1): KEDA creates the HPA (named like the API, with the same
    /// behavior) and scales between 0 and 1 replicas itself.
    static func scaledObject(_ name: String, plan: Plan, prometheus: String, metadata: ManifestValue)
        -> ManifestValue
    {
        let value = plan.targetReplicaConcurrency
        let threshold = value == value.rounded() ? String(Int(value)) : String(value)
        return ManifestRenderer.object(
            "keda.sh/v1alpha1", "ScaledObject", metadata,
            [
                (
                    "spec",
                    .map([
                        ("scaleTargetRef", .map([("name", .string(name))])),
                        ("pollingInterval", .int(periodSeconds)),
                        ("cooldownPeriod", .int(max(plan.scaleDownWindowSeconds, periodSeconds))),
                        ("minReplicaCount", .int(plan.minReplicas)),
                        ("maxReplicaCount", .int(plan.maxReplicas)),
                        (
                            "advanced",
                            .map([
                                (
                                    "horizontalPodAutoscalerConfig",
                                    .map([("name", .string(name)), ("behavior", behavior(plan))])
                                )
                            ])
                        ),
                        (
                            "triggers",
                            .list([
                                .map([
                                    ("type", .string("prometheus")),
                                    ("metricType", .string("AverageValue")),
                                    (
                                        "metadata",
                                        .map([
                                            ("serverAddress", .string(prometheus)),
                                            ("query", .string(kedaQuery(apiName: name, plan: plan))),
                                            ("threshold", .string(threshold)),
                                            ("activationThreshold", .string("0")),
                                        ])
                                    ),
                                ])
                            ])
                        ),
                    ])
                )
            ])
    }
}

extension Autoscaler.Configuration {
    /// The autoscaler's settings from an API's validated `autoscaling` section: the one conversion, used
    /// for the cluster's HPA and the local operator alike.
    public init(_ spec: AutoscalingSpec) {
        self.init(
            minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas, initReplicas: spec.initReplicas,
            targetReplicaConcurrency: spec.targetReplicaConcurrency, window: spec.window,
            downscaleStabilizationPeriod: spec.downscaleStabilizationPeriod,
            upscaleStabilizationPeriod: spec.upscaleStabilizationPeriod,
            maxDownscaleFactor: spec.maxDownscaleFactor, maxUpscaleFactor: spec.maxUpscaleFactor,
            downscaleTolerance: spec.downscaleTolerance, upscaleTolerance: spec.upscaleTolerance)
    }
}
