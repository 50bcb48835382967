import Synchronization

/// Hands out request ids unique within one process: random high 32 bits, a counter in the low 32.
public final class RequestIDGenerator: Sendable {
    private let prefix: UInt64
    private let counter = Atomic<UInt32>(0)

    public init(prefix: UInt32 = .random(in: 0...UInt32.max)) {
        self.prefix = UInt64(prefix) << 32
    }

    public func next() -> UInt64 {
        prefix | UInt64(counter.add(1, ordering: .relaxed).newValue)
    }

    /// The id as logs and error bodies print it: 16 lower-case hex digits.
    public static func format(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
