import CortexConfig

/// Cortex's autoscaling fields mapped onto an `autoscaling/v2` HorizontalPodAutoscaler (pure).
///
/// - target: the per-pod average of `cortex_in_flight_requests` (queued + running, what Cortex's
///   autoscaler averaged), served to the HPA as a Pods metric by a metrics adapter (Prometheus Adapter,
///   or KEDA's Prometheus scaler), at `target_replica_concurrency`;
/// - `min_replicas`/`max_replicas` as they are (an HPA cannot go below 1 without KEDA);
/// - stabilization: `upscale_stabilization_period` / `downscale_stabilization_period` become the
///   windows of `behavior.scaleUp` / `scaleDown` (the HPA, like Cortex, takes the max recommendation
///   over the down window and the min over the up window);
/// - step limits: `max_upscale_factor` f allows a rise of (f − 1) × 100 % per period and
///   `max_downscale_factor` g a fall of (1 − g) × 100 %, with at least one pod either way
///   (`selectPolicy: Max`), as Cortex's `max(cur ± 1, ceil(cur × factor))`; the period is Cortex's
///   10 s decision interval.
///
/// Not mapped: `window` (the adapter's query averages over it, e.g. `avg_over_time(…[60s])`) and the
/// tolerances (the HPA's tolerance is cluster-wide, 10 % by default).
public enum HorizontalScaling {
    /// Cortex decided every 10 s.
    public static let periodSeconds = 10
    public static let metricName = "cortex_in_flight_requests"

    /// Percent of the current replicas a scale-up may add in one period.
    public static func upscalePercent(_ spec: AutoscalingSpec) -> Int {
        Int(((spec.maxUpscaleFactor - 1) * 100).rounded(.down))
    }

    /// Percent of the current replicas a scale-down may remove in one period.
    public static func downscalePercent(_ spec: AutoscalingSpec) -> Int {
        Int(((1 - spec.maxDownscaleFactor) * 100).rounded(.down))
    }

    /// The HPA's target per pod: a Kubernetes quantity (milli-units when not whole).
    public static func targetQuantity(_ concurrency: Double) -> String {
        concurrency == concurrency.rounded() ? String(Int(concurrency)) : "\(Int((concurrency * 1000).rounded()))m"
    }

    static func autoscaler(_ api: APISpec, metadata: ManifestValue) -> ManifestValue {
        let spec = api.autoscaling
        let policies = { (percent: Int) -> ManifestValue in
            .list([
                .map([
                    ("type", .string("Percent")), ("value", .int(max(percent, 1))),
                    ("periodSeconds", .int(periodSeconds)),
                ]),
                .map([("type", .string("Pods")), ("value", .int(1)), ("periodSeconds", .int(periodSeconds))]),
            ])
        }
        return ManifestRenderer.object(
            "autoscaling/v2", "HorizontalPodAutoscaler", metadata,
            [
                (
                    "spec",
                    .map([
                        (
                            "scaleTargetRef",
                            .map([
                                ("apiVersion", .string("apps/v1")), ("kind", .string("Deployment")),
                                ("name", .string(api.name)),
                            ])
                        ),
                        ("minReplicas", .int(max(spec.minReplicas, 1))),
                        ("maxReplicas", .int(max(spec.maxReplicas, 1))),
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
                                                    (
                                                        "averageValue",
                                                        .string(targetQuantity(spec.targetReplicaConcurrency))
                                                    ),
                                                ])
                                            ),
                                        ])
                                    ),
                                ])
                            ])
                        ),
                        (
                            "behavior",
                            .map([
                                (
                                    "scaleUp",
                                    .map([
                                        ("stabilizationWindowSeconds", .int(Int(spec.upscaleStabilizationPeriod))),
                                        ("selectPolicy", .string("Max")),
                                        ("policies", policies(upscalePercent(spec))),
                                    ])
                                ),
                                (
                                    "scaleDown",
                                    .map([
                                        ("stabilizationWindowSeconds", .int(Int(spec.downscaleStabilizationPeriod))),
                                        ("selectPolicy", .string("Max")),
                                        ("policies", policies(downscalePercent(spec))),
                                    ])
                                ),
                            ])
                        ),
                    ])
                )
            ])
    }
}
