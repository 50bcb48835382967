import Foundation

/// Cortex's API status codes (`cortex get`), with the message Cortex showed for each.
public enum CortexStatusCode: String, Sendable, Codable, CaseIterable {
    case live = "status_live"
    case updating = "status_updating"
    case error = "status_error"
    case errorImagePull = "status_error_image_pull"
    case oom = "status_oom"
    case stalled = "status_stalled"
    case unknown = "status_unknown"

    /// What `cortex get`'s table shows.
    public var message: String {
        switch self {
        case .live: "live"
        case .updating: "updating"
        case .error: "error"
        case .errorImagePull: "image pull error"
        case .oom: "error (out of memory)"
        case .stalled: "compute unavailable"
        case .unknown: "unknown"
        }
    }
}

/// The subset of a Kubernetes object (`kubectl get … -o json`) the status mapping reads: Deployments,
/// their Pods, and Ingresses.
public struct KubernetesObject: Sendable, Decodable, Equatable {
    public struct Metadata: Sendable, Decodable, Equatable {
        public var name: String
        public var labels: [String: String]?
        public var generation: Int?
        public var creationTimestamp: String?
    }
    public struct Condition: Sendable, Decodable, Equatable {
        public var type: String
        public var status: String
        public var reason: String?
        public var message: String?
        public var lastUpdateTime: String?
    }
    public struct ContainerState: Sendable, Decodable, Equatable {
        public struct Reason: Sendable, Decodable, Equatable {
            public var reason: String?
            public var message: String?
            public var exitCode: Int?
        }
        public var waiting: Reason?
        public var terminated: Reason?
    }
    public struct ContainerStatus: Sendable, Decodable, Equatable {
        public var state: ContainerState?
        public var lastState: ContainerState?
        public var ready: Bool?
    }
    public struct IngressPoint: Sendable, Decodable, Equatable {
        public var ip: String?
        public var hostname: String?
    }
    public struct LoadBalancer: Sendable, Decodable, Equatable {
        public var ingress: [IngressPoint]?
    }
    public struct IngressPath: Sendable, Decodable, Equatable { public var path: String? }
    public struct IngressHTTP: Sendable, Decodable, Equatable { public var paths: [IngressPath]? }
    public struct IngressRule: Sendable, Decodable, Equatable {
        public var host: String?
        public var http: IngressHTTP?
    }
    public struct Spec: Sendable, Decodable, Equatable {
        /// Deployment: desired replicas.
        public var replicas: Int?
        /// Ingress: its rules.
        public var rules: [IngressRule]?
    }
    public struct Status: Sendable, Decodable, Equatable {
        // Deployment
        public var observedGeneration: Int?
        public var replicas: Int?
        public var updatedReplicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
        public var conditions: [Condition]?
        // Pod
        public var phase: String?
        public var containerStatuses: [ContainerStatus]?
        // Ingress
        public var loadBalancer: LoadBalancer?
    }

    public var kind: String
    public var metadata: Metadata
    public var spec: Spec?
    public var status: Status?

    /// The items of a `kubectl get -o json` answer (a `List`).
    public static func list(json: Data) throws -> [KubernetesObject] {
        struct List: Decodable { var items: [KubernetesObject] }
        return try JSONDecoder().decode(List.self, from: json).items
    }
}

/// One API's status on a cluster, in Cortex's terms (pure).
public struct ClusterAPIStatus: Sendable, Equatable {
    public var name: String
    public var kind: String
    public var code: CortexStatusCode
    /// Desired replicas (`spec.replicas`).
    public var requested: Int
    /// Replicas of the current pod template.
    public var upToDate: Int
    /// Replicas available (ready long enough).
    public var available: Int
    /// The path the Ingress routes, when there is one.
    public var endpoint: String?
    /// When the Deployment last progressed (or was created), as Kubernetes wrote it.
    public var lastUpdate: Date?
    /// Why, when not live (the failing container's reason or the Deployment's condition).
    public var detail: String?

    /// The status of the Deployment `deployment`, from it and the pods labelled with its API.
    public static func of(deployment: KubernetesObject, pods: [KubernetesObject], ingresses: [KubernetesObject])
        -> ClusterAPIStatus
    {
        let name = deployment.metadata.labels?["apiName"] ?? deployment.metadata.name
        let status = deployment.status
        let requested = deployment.spec?.replicas ?? 1
        let upToDate = status?.updatedReplicas ?? 0
        let available = status?.availableReplicas ?? 0
        let rolling =
            (deployment.metadata.generation ?? 0) > (status?.observedGeneration ?? 0) || upToDate < requested
            || (status?.replicas ?? 0) > upToDate
        let progressing = status?.conditions?.first { $0.type == "Progressing" }
        var result = ClusterAPIStatus(
            name: name, kind: deployment.metadata.labels?["apiKind"] ?? "RealtimeAPI", code: .unknown,
            requested: requested, upToDate: upToDate, available: available,
            endpoint: endpoint(name: name, ingresses: ingresses),
            lastUpdate: parseTime(progressing?.lastUpdateTime ?? deployment.metadata.creationTimestamp), detail: nil)
        if !rolling && available >= requested {
            result.code = .live
            return result
        }
        let mine = pods.filter { $0.metadata.labels?["apiName"] == name }
        if let (code, detail) = podProblem(mine) {
            result.code = code
            result.detail = detail
        } else if progressing?.status == "False" && progressing?.reason == "ProgressDeadlineExceeded" {
            result.code = .error
            result.detail = progressing?.message ?? "the rollout exceeded its progress deadline"
        } else if rolling {
            result.code = .updating
        } else {
            // Scaling up: live while some replica serves, as Cortex counted ready replicas.
            result.code = available > 0 ? .live : .updating
        }
        return result
    }

    /// The worst problem among the pods, in Cortex's order: image pull, out of memory, crash, unschedulable.
    static func podProblem(_ pods: [KubernetesObject]) -> (CortexStatusCode, String)? {
        var found: [(CortexStatusCode, String)] = []
        for pod in pods {
            for container in pod.status?.containerStatuses ?? [] {
                let waiting = container.state?.waiting?.reason
                let terminated = container.state?.terminated?.reason ?? container.lastState?.terminated?.reason
                if let waiting, ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"].contains(waiting) {
                    found.append((.errorImagePull, "\(pod.metadata.name): \(waiting)"))
                } else if terminated == "OOMKilled" {
                    found.append((.oom, "\(pod.metadata.name): OOMKilled"))
                } else if waiting == "CrashLoopBackOff" || (terminated == "Error" && container.ready != true) {
                    found.append((.error, "\(pod.metadata.name): \(waiting ?? terminated ?? "crashed")"))
                }
            }
            if pod.status?.phase == "Pending",
                let scheduled = pod.status?.conditions?.first(where: { $0.type == "PodScheduled" }),
                scheduled.status == "False", scheduled.reason == "Unschedulable"
            {
                found.append((.stalled, "\(pod.metadata.name): \(scheduled.message ?? "unschedulable")"))
            }
        }
        let order: [CortexStatusCode] = [.errorImagePull, .oom, .error, .stalled]
        return found.min { order.firstIndex(of: $0.0)! < order.firstIndex(of: $1.0)! }
    }

    /// `http://<address><path>` from the API's Ingress, its path alone while it has no address, or nil.
    static func endpoint(name: String, ingresses: [KubernetesObject]) -> String? {
        guard let ingress = ingresses.first(where: { $0.metadata.labels?["apiName"] == name }) else { return nil }
        let rule = ingress.spec?.rules?.first
        let path = rule?.http?.paths?.first?.path ?? "/\(name)"
        let point = ingress.status?.loadBalancer?.ingress?.first
        guard let host = rule?.host ?? point?.hostname ?? point?.ip else { return path }
        return "http://\(host)\(path)"
    }

    static func parseTime(_ text: String?) -> Date? {
        guard let text else { return nil }
        return ISO8601DateFormatter().date(from: text)
    }

    /// Cortex's `get -o json` shape for these APIs.
    public static func json(_ apis: [ClusterAPIStatus], environment: String) -> String {
        let items: [[String: Any]] = apis.map { api in
            var status: [String: Any] = [
                "api_name": api.name, "status_code": api.code.rawValue, "message": api.code.message,
                "requested": api.requested, "up_to_date": api.upToDate, "available": api.available,
            ]
            if let detail = api.detail { status["detail"] = detail }
            var item: [String: Any] = [
                "spec": ["name": api.name, "kind": api.kind], "status": status, "environment": environment,
            ]
            item["endpoint"] = api.endpoint ?? NSNull()
            if let last = api.lastUpdate { item["last_updated"] = Int(last.timeIntervalSince1970) }
            return item
        }
        let data =
            (try? JSONSerialization.data(
                withJSONObject: ["realtime_apis": items],
                options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Cortex's `get` table: `env  realtime api  status  up-to-date  requested  last update`.
    public static func table(_ apis: [ClusterAPIStatus], environment: String, now: Date) -> String {
        guard !apis.isEmpty else { return "no apis are deployed in environment \(environment)" }
        let header = ["env", "realtime api", "status", "up-to-date", "requested", "last update"]
        let rows = apis.map { api in
            [
                environment, api.name, api.code.message, String(api.upToDate), String(api.requested),
                api.lastUpdate.map { since($0, now: now) } ?? "-",
            ]
        }
        var text = StatusFormat.align([header] + rows)
        if apis.count == 1, let api = apis.first {
            if let endpoint = api.endpoint { text += "\n\nendpoint: \(endpoint)" }
            if let detail = api.detail { text += "\n\(api.code.message): \(detail)" }
        } else {
            for api in apis where api.detail != nil { text += "\n\(api.name): \(api.detail!)" }
        }
        return text
    }

    /// Cortex's short age of `date`: `45s`, `12m`, `3h`, `2d`.
    static func since(_ date: Date, now: Date) -> String {
        StatusFormat.age(now.timeIntervalSince(date))
    }
}
