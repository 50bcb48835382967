import Foundation
import KubernetesManifests

/// The operating commands (`deploy`, `get`, `logs`, `delete`, `refresh`) against a Kubernetes cluster
/// named in `$CORTEX_HOME/environments.yaml` (``EnvironmentsFile``), through `kubectl` and the user's
/// kubeconfig. Every command but `deploy --dry-run` first checks that the environment's context
/// exists and its API server answers.
public enum ClusterCLI {
    /// The label every object of an API carries, and the one the Deployments' selectors use.
    static let apiLabel = "apiName"
    static let managedBy = "app.kubernetes.io/managed-by=cortex-swift"

    static func environment(_ name: String) throws -> ClusterEnvironment {
        try EnvironmentsFile.named(name, environment: ProcessInfo.processInfo.environment)
    }

    static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Renders every API of the project at `path` for the environment and applies the objects with
    /// `kubectl apply -f -` (`dryRun`: prints them and touches no cluster); `wait` follows the rollouts.
    public static func deploy(path: String?, environment name: String, dryRun: Bool, wait: Bool) throws {
        let environment = try environment(name)
        guard let image = environment.image else {
            throw Kubectl.Failure(
                description:
                    "\(EnvironmentsFile.path(environment: ProcessInfo.processInfo.environment)): environment \(name): image: required by deploy (the image `cortex cluster build --tag IMAGE` built and pushed)"
            )
        }
        let project = try PreparedProject.load(path: path)
        let options = environment.renderOptions(image: image)
        var documents: [String] = []
        for api in project.apis {
            for warning in ManifestRenderer.warnings(api: api, options: options) {
                standardError("warning: \(warning)")
            }
            for manifest in ManifestRenderer.render(api: api, dotEnv: project.dotEnv, options: options) {
                documents.append(try manifest.object.yaml())
            }
        }
        let text = documents.map { "---\n" + $0 }.joined()
        if dryRun {
            print(text, terminator: "")
            return
        }
        let kubectl = try Kubectl(environment: environment)
        try kubectl.checkReachable()
        let applied = try kubectl.capture(["apply", "-f", "-"], input: text)
        guard applied.status == 0 else { throw kubectl.failure("kubectl apply", applied) }
        print(applied.stdout, terminator: "")
        for api in project.apis {
            print("api \(api.name) deployed to environment \(name) (image \(image))")
        }
        guard wait else { return }
        for api in project.apis {
            let status = try kubectl.inheriting(["rollout", "status", "deployment/\(api.name)", "--timeout=15m"])
            guard status == 0 else {
                throw Kubectl.Failure(
                    description:
                        "api \(api.name) did not become live in environment \(name); see `cortex get \(api.name) --env \(name)` and `cortex logs \(api.name) --env \(name)`"
                )
            }
        }
    }

    /// Shows the APIs of the environment (or one), as Cortex's table or `{"realtime_apis": [...]}`.
    public static func get(name: String?, json: Bool, environment envName: String) throws {
        let environment = try environment(envName)
        let kubectl = try Kubectl(environment: environment)
        try kubectl.checkReachable()
        let selector = managedBy + (name.map { ",\(apiLabel)=\($0)" } ?? "")
        let result = try kubectl.capture(["get", "deployments,pods,ingresses", "-l", selector, "-o", "json"])
        guard result.status == 0 else { throw kubectl.failure("kubectl get", result) }
        let objects: [KubernetesObject]
        do {
            objects = try KubernetesObject.list(json: Data(result.stdout.utf8))
        } catch {
            throw Kubectl.Failure(description: "cannot read kubectl's answer as a List: \(error)")
        }
        let pods = objects.filter { $0.kind == "Pod" }
        let ingresses = objects.filter { $0.kind == "Ingress" }
        let apis = objects.filter { $0.kind == "Deployment" }
            .map { ClusterAPIStatus.of(deployment: $0, pods: pods, ingresses: ingresses) }
            .sorted { $0.name < $1.name }
        if let name, apis.isEmpty {
            throw Kubectl.Failure(description: "no api named \(name) in environment \(envName)")
        }
        print(
            json
                ? ClusterAPIStatus.json(apis, environment: envName)
                : ClusterAPIStatus.table(apis, environment: envName, now: Date()))
    }

    /// `kubectl logs -l apiName=NAME --prefix [-f] [--tail N]`: every replica's log, each line prefixed
    /// with its pod.
    public static func logs(name: String, tail: Int?, follow: Bool, environment envName: String) throws {
        let kubectl = try Kubectl(environment: environment(envName))
        try kubectl.checkReachable()
        var arguments = ["logs", "-l", "\(apiLabel)=\(name)", "--prefix", "--max-log-requests", "50"]
        if follow { arguments.append("-f") }
        arguments += ["--tail", String(tail ?? (follow ? 100 : -1))]
        let status = try kubectl.inheriting(arguments)
        if status != 0 {
            throw Kubectl.Failure(description: "kubectl logs for api \(name) exited with status \(status)")
        }
    }

    /// Deletes every object labelled with the API (Deployment, Service, route, autoscaler, Secret).
    public static func delete(name: String, environment envName: String) throws {
        let environment = try environment(envName)
        let kubectl = try Kubectl(environment: environment)
        try kubectl.checkReachable()
        var kinds = ["deployments", "services", "secrets"]
        kinds.append(environment.route == .ingress ? "ingresses" : "httproutes.gateway.networking.k8s.io")
        kinds.append(
            environment.autoscaler == .hpa ? "horizontalpodautoscalers" : "scaledobjects.keda.sh")
        let result = try kubectl.capture([
            "delete", kinds.joined(separator: ","), "-l", "\(managedBy),\(apiLabel)=\(name)",
        ])
        guard result.status == 0 else { throw kubectl.failure("kubectl delete", result) }
        let deleted = result.stdout.split(separator: "\n").filter { !$0.isEmpty }
        guard !deleted.isEmpty else {
            throw Kubectl.Failure(description: "no api named \(name) in environment \(envName)")
        }
        print(deleted.joined(separator: "\n"))
        print("deleted api \(name) from environment \(envName)")
    }

    /// Restarts the API's replicas as a rolling update (`kubectl rollout restart`).
    public static func refresh(name: String, environment envName: String) throws {
        let kubectl = try Kubectl(environment: environment(envName))
        try kubectl.checkReachable()
        let result = try kubectl.capture(["rollout", "restart", "deployment/\(name)"])
        guard result.status == 0 else {
            if result.stderr.contains("NotFound") || result.stderr.contains("not found") {
                throw Kubectl.Failure(description: "no api named \(name) in environment \(envName)")
            }
            throw kubectl.failure("kubectl rollout restart", result)
        }
        print("refreshing api \(name) in environment \(envName) (a rolling restart)")
    }
}
