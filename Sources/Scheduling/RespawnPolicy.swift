/// How a worker's life ended, as the respawn policy sees it.
public struct WorkerExit: Sendable, Equatable {
    /// Seconds between the worker reporting `READY` and its exit; `nil` when it never became ready.
    public var secondsReady: Double?
    /// Requests it answered.
    public var served: Int

    public init(secondsReady: Double?, served: Int) {
        self.secondsReady = secondsReady
        self.served = served
    }
}

/// When to respawn a worker that exited.
///
/// A worker that was ready and did its job (answered at least one request, or stayed ready for
/// `settleTime`) was killed from outside or crashed on one input: it is replaced **at once**, however
/// often that happens, so a kill storm never leaves an API without workers for long. Only a crash loop
/// backs off: a worker that dies before `READY` (import error, constructor raising, out of memory while
/// loading a model) or right after it without answering anything. Consecutive crash-loop exits wait
/// `initialDelay`, then twice as long each time, up to `maximumDelay`; a healthy exit resets the count.
public struct RespawnPolicy: Sendable, Equatable {
    public var initialDelay: Double
    public var maximumDelay: Double
    /// A ready worker that lived this long counts as healthy even if no request came.
    public var settleTime: Double
    public private(set) var consecutiveCrashes = 0

    public init(initialDelay: Double = 0.1, maximumDelay: Double = 10, settleTime: Double = 5) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.settleTime = settleTime
    }

    /// Whether an exit is part of a crash loop.
    public func isCrashLoop(_ exit: WorkerExit) -> Bool {
        guard let secondsReady = exit.secondsReady else { return true }
        return exit.served == 0 && secondsReady < settleTime
    }

    /// Records an exit and returns how many seconds to wait before respawning.
    public mutating func delay(after exit: WorkerExit) -> Double {
        guard isCrashLoop(exit) else {
            consecutiveCrashes = 0
            return 0
        }
        let delay = min(maximumDelay, initialDelay * Double(1 << min(consecutiveCrashes, 30)))
        consecutiveCrashes += 1
        return delay
    }
}
