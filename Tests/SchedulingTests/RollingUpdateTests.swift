import Testing

@testable import Scheduling

@Suite("Rolling updates (update_strategy)")
struct RollingUpdateTests {
    @Test(
        "max_surge / max_unavailable resolve as Kubernetes does: surge rounds up, unavailable down",
        arguments: [
            ("25%", "25%", 1, 1, 0), ("25%", "25%", 4, 1, 1), ("25%", "25%", 10, 3, 2), ("1", "0", 5, 1, 0),
            ("0", "0", 3, 1, 0), ("0", "50%", 4, 0, 2), ("100%", "0%", 3, 3, 0),
        ])
    func resolution(surge: String, unavailable: String, replicas: Int, expectedSurge: Int, expectedUnavailable: Int) {
        let strategy = RollingUpdate(maxSurge: surge, maxUnavailable: unavailable, replicas: replicas)
        #expect(strategy.maxSurge == expectedSurge)
        #expect(strategy.maxUnavailable == expectedUnavailable)
    }

    @Test("steps: (desired, old, new) → (stop old, start new, stop new)")
    func steps() {
        let surgeOnly = RollingUpdate(maxSurge: 1, maxUnavailable: 0)
        #expect(surgeOnly.next(desired: 1, old: 1, new: 0) == .init(startNew: 1))
        #expect(surgeOnly.next(desired: 1, old: 1, new: 1) == .init(stopOld: 1))
        #expect(surgeOnly.next(desired: 2, old: 2, new: 0) == .init(startNew: 1))
        #expect(surgeOnly.next(desired: 2, old: 2, new: 1) == .init(stopOld: 1, startNew: 1))
        let unavailableOnly = RollingUpdate(maxSurge: 0, maxUnavailable: 1)
        #expect(unavailableOnly.next(desired: 1, old: 1, new: 0) == .init(stopOld: 1, startNew: 1))
        let both = RollingUpdate(maxSurge: 1, maxUnavailable: 1)
        #expect(both.next(desired: 4, old: 4, new: 0) == .init(stopOld: 1, startNew: 2))
        // Plain scaling once no old replica is left.
        #expect(both.next(desired: 3, old: 0, new: 1) == .init(startNew: 2))
        #expect(both.next(desired: 1, old: 0, new: 3) == .init(stopNew: 2))
        #expect(both.next(desired: 2, old: 0, new: 2).isDone)
        // Scaled to zero mid-update: everything old goes.
        #expect(both.next(desired: 0, old: 2, new: 0) == .init(stopOld: 2))
    }

    @Test("property: every update ends with `desired` new replicas, within the surge and availability bounds")
    func property() {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let desired = Int.random(in: 0...12, using: &random)
            let strategy = RollingUpdate(
                maxSurge: Int.random(in: 0...4, using: &random), maxUnavailable: Int.random(in: 0...4, using: &random))
            var old = Int.random(in: 0...12, using: &random)
            var new = 0
            var steps = 0
            while true {
                let step = strategy.next(desired: desired, old: old, new: new)
                if step.isDone { break }
                steps += 1
                #expect(steps < 100, "no progress: desired \(desired) old \(old) new \(new) \(strategy)")
                if steps >= 100 { break }
                old -= step.stopOld
                new -= step.stopNew
                #expect(old >= 0 && new >= 0)
                // While old replicas remain, never fewer ready than desired − maxUnavailable (when
                // there were that many to begin with), never more running than desired + maxSurge.
                if old > 0 {
                    #expect(old + new >= min(desired - strategy.maxUnavailable, old + new + step.stopOld))
                }
                new += step.startNew
                #expect(old + new <= max(desired + strategy.maxSurge, old + new - step.startNew))
            }
            #expect(old == 0 && new == desired)
        }
    }
}
