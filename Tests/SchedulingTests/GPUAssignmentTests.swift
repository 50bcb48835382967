import Testing

@testable import Scheduling

@Suite struct GPUAssignmentTests {
    @Test func apisTakeTheirOwnDevicesInConfigOrder() {
        let plan = GPUAssignment.plan(
            requests: [("a", 2), ("cpu", 0), ("b", 1)], available: ["0", "1", "2", "3"])
        #expect(plan.devices == ["a": ["0", "1"], "b": ["2"]])
        #expect(plan.warnings.isEmpty)
    }

    @Test func tooFewDevicesAreSharedWithAWarning() {
        let plan = GPUAssignment.plan(requests: [("a", 2), ("b", 2)], available: ["7", "9", "11"])
        #expect(plan.devices == ["a": ["7", "9"], "b": ["11", "7"]])
        #expect(plan.warnings == ["the APIs ask for 4 GPU(s) (compute.gpu) but 3 are visible: they share devices"])
    }

    @Test func anAPIAskingForMoreThanExistGetsAll() {
        let plan = GPUAssignment.plan(requests: [("big", 5)], available: ["0", "1"])
        #expect(plan.devices == ["big": ["0", "1"]])
        #expect(plan.warnings.count == 2)
    }

    @Test func noDeviceMeansTheCPUWithAWarning() {
        let plan = GPUAssignment.plan(requests: [("a", 1), ("b", 0)], available: [])
        #expect(plan.devices.isEmpty)
        #expect(
            plan.warnings == ["api a asks for 1 GPU(s) (compute.gpu), but no GPU is visible: it is served on the CPU"])
    }

    @Test func noRequestsNoPlan() {
        #expect(GPUAssignment.plan(requests: [("a", 0)], available: ["0"]) == .init(devices: [:], warnings: []))
    }

    @Test(arguments: [
        (String?.none, 2, ["0", "1"]), ("3,5", 8, ["3", "5"]), ("", 4, [String]()), ("1, 2,-1,3", 4, ["1", "2"]),
        ("GPU-8a1b,GPU-99", 0, ["GPU-8a1b", "GPU-99"]), ("0,,1", 2, ["0"]),
    ])
    func visibleDevicesFollowCUDAVisibleDevices(variable: String?, driverCount: Int, expected: [String]) {
        #expect(GPUAssignment.visibleDevices(cudaVisibleDevices: variable, driverCount: driverCount) == expected)
    }
}
