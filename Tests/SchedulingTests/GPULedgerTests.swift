import Testing

@testable import Scheduling

@Suite("GPUs of the operator's replicas")
struct GPULedgerTests {
    @Test func replicasGetTheirOwnDevicesWhileEnoughAreFree() {
        var ledger = GPULedger(devices: ["0", "1", "2", "3"])
        #expect(ledger.take(2, for: "a") == (["0", "1"], nil))
        #expect(ledger.take(1, for: "b") == (["2"], nil))
        #expect(ledger.take(1, for: "b") == (["3"], nil))
        let shared = ledger.take(2, for: "a")
        #expect(shared.devices == ["0", "1"])
        #expect(shared.warning?.contains("shares devices") == true)
    }

    @Test func releasedDevicesAreTakenAgainFirst() {
        var ledger = GPULedger(devices: ["0", "1"])
        _ = ledger.take(1, for: "a")
        _ = ledger.take(1, for: "a")
        ledger.release(["0"])
        #expect(ledger.take(1, for: "a") == (["0"], nil))
        ledger.release(["0", "1", "1", "nope"])
        #expect(ledger.users == [0, 0])
    }

    @Test func noDevicesMeansTheCPUWithAWarningAndTooManyMeansAll() {
        var none = GPULedger(devices: [])
        let cpu = none.take(1, for: "a")
        #expect(cpu.devices.isEmpty && cpu.warning?.contains("served on the CPU") == true)
        var two = GPULedger(devices: ["GPU-aa", "GPU-bb"])
        let all = two.take(3, for: "a")
        #expect(all.devices == ["GPU-aa", "GPU-bb"] && all.warning?.contains("gets all of them") == true)
        #expect(two.take(0, for: "b") == ([], nil))
    }

    @Test func propertyUsersNeverGoNegativeAndMatchWhatIsHeld() {
        var random = SeededGenerator(seed: 11)
        for _ in 0..<200 {
            var ledger = GPULedger(devices: (0..<Int.random(in: 0...4, using: &random)).map(String.init))
            var held: [[String]] = []
            for _ in 0..<30 {
                if Bool.random(using: &random) || held.isEmpty {
                    held.append(ledger.take(Int.random(in: 0...3, using: &random), for: "x").devices)
                } else {
                    ledger.release(held.remove(at: Int.random(in: 0..<held.count, using: &random)))
                }
                let counted = ledger.devices.map { id in held.reduce(0) { $0 + $1.filter { $0 == id }.count } }
                #expect(ledger.users == counted)
            }
        }
    }
}
