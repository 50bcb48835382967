/// When to respawn a crashed worker: exponential back-off that resets once a worker has stayed up.
public struct RestartBackoff: Sendable, Equatable {
    public var initialDelay: Double
    public var maximumDelay: Double
    /// A worker alive this long before dying counts as healthy: the next delay starts over.
    public var healthyAfter: Double
    public private(set) var consecutiveFailures = 0

    public init(initialDelay: Double = 0.1, maximumDelay: Double = 10, healthyAfter: Double = 30) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.healthyAfter = healthyAfter
    }

    /// Records a death after `uptime` seconds and returns how long to wait before respawning.
    public mutating func delayAfterExit(uptime: Double) -> Double {
        if uptime >= healthyAfter { consecutiveFailures = 0 }
        let delay = min(maximumDelay, initialDelay * Double(1 << min(consecutiveFailures, 30)))
        consecutiveFailures += 1
        return delay
    }
}
