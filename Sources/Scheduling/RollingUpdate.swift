/// How an API's replicas move to a new version (`update_strategy`), as Kubernetes' Deployments do it:
/// at most `maxSurge` replicas above the desired count, at most `maxUnavailable` below it. Pure: the
/// operator asks for the next step with the counts it has and applies it.
public struct RollingUpdate: Sendable, Equatable {
    public var maxSurge: Int
    public var maxUnavailable: Int

    public init(maxSurge: Int, maxUnavailable: Int) {
        // Both 0 would never move; Kubernetes refuses it, and a surge of one is the safe way through.
        self.maxSurge = maxSurge == 0 && maxUnavailable == 0 ? 1 : max(0, maxSurge)
        self.maxUnavailable = max(0, maxUnavailable)
    }

    /// `max_surge` / `max_unavailable` (a count, or a percentage of `replicas`: surge rounds up,
    /// unavailable rounds down, as Kubernetes does).
    public init(maxSurge: String, maxUnavailable: String, replicas: Int) {
        self.init(
            maxSurge: Self.resolve(maxSurge, of: replicas, roundingUp: true),
            maxUnavailable: Self.resolve(maxUnavailable, of: replicas, roundingUp: false))
    }

    static func resolve(_ value: String, of replicas: Int, roundingUp: Bool) -> Int {
        if value.hasSuffix("%"), let percent = Double(value.dropLast()) {
            let exact = percent / 100 * Double(replicas)
            return Int(roundingUp ? exact.rounded(.up) : exact.rounded(.down))
        }
        return Int(value) ?? 0
    }

    /// What to do next.
    public struct Step: Sendable, Equatable {
        /// Replicas of the old version to take out of rotation and drain.
        public var stopOld: Int
        /// Replicas of the new version to start (they take traffic once ready).
        public var startNew: Int
        /// Replicas of the new version beyond the desired count, to drain.
        public var stopNew: Int

        public init(stopOld: Int = 0, startNew: Int = 0, stopNew: Int = 0) {
            self.stopOld = stopOld
            self.startNew = startNew
            self.stopNew = stopNew
        }

        public var isDone: Bool { stopOld == 0 && startNew == 0 && stopNew == 0 }
    }

    /// The next step with `desired` replicas wanted, `old` replicas of the previous version and `new`
    /// ready replicas of the current one. Old replicas stop only while at least `desired −
    /// maxUnavailable` replicas stay ready; new ones start only while at most `desired + maxSurge` run.
    /// With no old replica left it is plain scaling: start or stop new ones to reach `desired`.
    public func next(desired: Int, old: Int, new: Int) -> Step {
        if old == 0 {
            return desired >= new ? Step(startNew: desired - new) : Step(stopNew: new - desired)
        }
        if new >= desired { return Step(stopOld: old, stopNew: new - desired) }
        let total = old + new
        let minimumAvailable = max(0, desired - maxUnavailable)
        let stopOld = max(0, min(old, total - minimumAvailable))
        let startNew = max(0, min(desired - new, desired + maxSurge - (total - stopOld)))
        return Step(stopOld: stopOld, startNew: startNew)
    }
}
