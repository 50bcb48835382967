/// The operator's GPUs as replicas come and go (pure): each replica that asks for `compute.gpu`
/// devices gets the least used ones — its own while enough are free, shared (with a warning) beyond
/// that — and gives them back when it stops. A replica's workers share its devices.
public struct GPULedger: Sendable, Equatable {
    /// Device ids this process may use (`GPUAssignment.visibleDevices`), in order.
    public let devices: [String]
    /// Replicas using each device, by index into `devices`.
    public private(set) var users: [Int]

    public init(devices: [String]) {
        self.devices = devices
        self.users = Array(repeating: 0, count: devices.count)
    }

    /// The devices for a new replica of `api` asking for `count` of them, and a warning when they
    /// cannot be its own (none visible: it runs on the CPU; too few free: it shares).
    public mutating func take(_ count: Int, for api: String) -> (devices: [String], warning: String?) {
        guard count > 0 else { return ([], nil) }
        guard !devices.isEmpty else {
            return (
                [], "api \(api) asks for \(count) GPU(s) (compute.gpu), but no GPU is visible: it is served on the CPU"
            )
        }
        let granted = min(count, devices.count)
        // Least used first; among equals, the first in order.
        let chosen = devices.indices.sorted { (users[$0], $0) < (users[$1], $1) }.prefix(granted).sorted()
        let shared = chosen.contains { users[$0] > 0 }
        for index in chosen { users[index] += 1 }
        var warning: String?
        if count > devices.count {
            warning =
                "api \(api) asks for \(count) GPU(s) (compute.gpu) per replica but \(devices.count) are visible: each replica gets all of them"
        } else if shared {
            warning =
                "api \(api): not enough free GPUs for another replica's \(count) (compute.gpu): it shares devices with other replicas"
        }
        return (chosen.map { devices[$0] }, warning)
    }

    /// A stopped replica's devices.
    public mutating func release(_ taken: [String]) {
        for id in taken {
            guard let index = devices.firstIndex(of: id), users[index] > 0 else { continue }
            users[index] -= 1
        }
    }
}
