/// Which GPUs each API's workers see (`CUDA_VISIBLE_DEVICES`), from `compute.gpu` and the devices
/// this process may use (pure). A replica's workers share its GPUs.
///
/// APIs take devices in config order, each its own when there are enough; when the requests add up to
/// more than there are, devices are shared (handed out round-robin) and a warning says so. With no
/// device visible, an API that asks for GPUs is served on the CPU, with a warning.
public enum GPUAssignment {
    /// The outcome: devices per API that asked for any, and warnings to log.
    public struct Plan: Sendable, Equatable {
        public var devices: [String: [String]]
        public var warnings: [String]
    }

    /// `requests`: (API name, `compute.gpu`) in config order; `available`: device ids (indices or UUIDs).
    public static func plan(requests: [(api: String, gpus: Int)], available: [String]) -> Plan {
        let wanted = requests.filter { $0.gpus > 0 }
        guard !wanted.isEmpty else { return Plan(devices: [:], warnings: []) }
        guard !available.isEmpty else {
            return Plan(
                devices: [:],
                warnings: wanted.map {
                    "api \($0.api) asks for \($0.gpus) GPU(s) (compute.gpu), but no GPU is visible: it is served on the CPU"
                })
        }
        let total = wanted.reduce(0) { $0 + $1.gpus }
        var warnings: [String] = []
        if total > available.count {
            warnings.append(
                "the APIs ask for \(total) GPU(s) (compute.gpu) but \(available.count) are visible: they share devices")
        }
        var devices: [String: [String]] = [:]
        var next = 0
        for request in wanted {
            let count = min(request.gpus, available.count)
            if request.gpus > available.count {
                warnings.append(
                    "api \(request.api) asks for \(request.gpus) GPU(s) (compute.gpu) but \(available.count) are visible: it gets all of them"
                )
            }
            devices[request.api] = (0..<count).map { available[(next + $0) % available.count] }
            next += count
        }
        return Plan(devices: devices, warnings: warnings)
    }

    /// The devices this process may use: `CUDA_VISIBLE_DEVICES` when set (its list, as CUDA reads it:
    /// comma-separated, up to the first empty or invalid entry), else the indices `0..<count` of the
    /// GPUs the driver reports.
    public static func visibleDevices(cudaVisibleDevices: String?, driverCount: Int) -> [String] {
        if let list = cudaVisibleDevices {
            var ids: [String] = []
            for entry in list.split(separator: ",", omittingEmptySubsequences: false) {
                let id = entry.trimmingCharacters(in: .whitespaces)
                if id.isEmpty || id.hasPrefix("-") { break }
                ids.append(id)
            }
            return ids
        }
        return (0..<driverCount).map(String.init)
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension Set where Element == Character {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
