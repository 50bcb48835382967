/// Deadlines for reading requests off one connection, so slow or silent clients (slowloris) cannot
/// hold connections forever: pure state, the channel handler performs the actions.
///
/// - a request's head must be complete within `headerTimeout` of its first byte (or of the connection
///   opening),
/// - its body within `bodyTimeout` of the head,
/// - an idle keep-alive connection is closed after `idleTimeout`.
/// Nothing limits the time a request spends being processed (that is `predictor.timeout`).
public struct ReadDeadlineStateMachine: Sendable, Equatable {
    /// The limits, in seconds.
    public struct Limits: Sendable, Equatable {
        public var headerTimeout: Double
        public var bodyTimeout: Double
        public var idleTimeout: Double

        public init(headerTimeout: Double = 10, bodyTimeout: Double = 60, idleTimeout: Double = 75) {
            self.headerTimeout = headerTimeout
            self.bodyTimeout = bodyTimeout
            self.idleTimeout = idleTimeout
        }
    }

    public enum Phase: Sendable, Equatable {
        case idle, readingHead, readingBody, processing
    }

    public enum Action: Sendable, Equatable {
        /// Replace any pending deadline with one this many seconds from now.
        case schedule(Double)
        case cancelDeadline
        case close
        case none
    }

    public let limits: Limits
    public private(set) var phase: Phase = .idle

    public init(limits: Limits) {
        self.limits = limits
    }

    public mutating func connectionOpened() -> Action {
        phase = .readingHead
        return .schedule(limits.headerTimeout)
    }

    public mutating func bytesArrived() -> Action {
        guard phase == .idle else { return .none }
        phase = .readingHead
        return .schedule(limits.headerTimeout)
    }

    public mutating func headReceived() -> Action {
        phase = .readingBody
        return .schedule(limits.bodyTimeout)
    }

    public mutating func endReceived() -> Action {
        phase = .processing
        return .cancelDeadline
    }

    public mutating func responseFinished() -> Action {
        guard phase == .processing else { return .none }
        phase = .idle
        return .schedule(limits.idleTimeout)
    }

    public mutating func deadlinePassed() -> Action {
        phase == .processing ? .none : .close
    }
}
