import CortexConfig
import Scheduling

extension Autoscaler.Configuration {
    /// The autoscaler's settings from an API's validated `autoscaling` section.
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
