import Foundation
import Testing

@testable import CortexApp

@Suite struct TimestampTests {
    @Test func padsEveryField() {
        #expect(
            Timestamp.format(year: 2026, month: 1, day: 2, hour: 3, minute: 4, second: 5, millisecond: 6)
                == "2026-01-02T03:04:05.006Z")
        #expect(
            Timestamp.format(year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 59, millisecond: 999)
                == "1999-12-31T23:59:59.999Z")
    }

    @Test func nowIsTheCurrentUTCTime() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = Timestamp.now()
        let parsed = try #require(formatter.date(from: stamp))
        #expect(abs(parsed.timeIntervalSinceNow) < 5)
    }
}
