import Foundation
import KubernetesManifests
import Yams

/// One cluster environment of `$CORTEX_HOME/environments.yaml`: which cluster (a kubeconfig context),
/// where in it, and how APIs are rendered there.
public struct ClusterEnvironment: Sendable, Equatable {
    public var name: String
    /// The kubeconfig context `kubectl` uses (`--context`).
    public var context: String
    /// A kubeconfig file; nil: kubectl's own choice (`$KUBECONFIG`, else `~/.kube/config`).
    public var kubeconfig: String?
    /// The namespace of every object; nil: the context's.
    public var namespace: String?
    /// The image `cortex cluster build --tag` built and pushed (needed by `deploy`).
    public var image: String?
    public var route: ClusterRenderOptions.Route
    /// The Gateway an HTTPRoute attaches to.
    public var gateway: String
    public var autoscaler: ClusterAutoscaler
    /// The Prometheus server KEDA queries (with `autoscaler: keda`).
    public var prometheus: String?

    public init(
        name: String, context: String, kubeconfig: String? = nil, namespace: String? = nil, image: String? = nil,
        route: ClusterRenderOptions.Route = .ingress, gateway: String = "cortex", autoscaler: ClusterAutoscaler = .hpa,
        prometheus: String? = nil
    ) {
        self.name = name
        self.context = context
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.image = image
        self.route = route
        self.gateway = gateway
        self.autoscaler = autoscaler
        self.prometheus = prometheus
    }

    /// How `deploy` renders for this environment, with `image` set.
    func renderOptions(image: String) -> ClusterRenderOptions {
        var options = ClusterRenderOptions(
            image: image, namespace: namespace, route: route, gateway: gateway, autoscaler: autoscaler)
        if let prometheus { options.prometheus = prometheus }
        return options
    }
}

/// `$CORTEX_HOME/environments.yaml`: the named cluster environments `--env NAME` refers to.
///
/// ```yaml
/// environments:
///   - name: prod                  # what --env names (not "local": that is the local operator)
///     context: prod-cluster       # the kubeconfig context (required)
///     kubeconfig: ~/.kube/prod    # optional; default: $KUBECONFIG, else ~/.kube/config
///     namespace: ml               # optional; default: the context's namespace
///     image: registry.example/project:1   # what deploy runs (cortex cluster build --tag)
///     route: ingress              # ingress (default) or httproute
///     gateway: cortex             # the Gateway of an httproute
///     autoscaler: hpa             # hpa (default) or keda (scale to zero)
///     prometheus: http://prometheus-server.monitoring.svc.cluster.local   # KEDA's Prometheus
/// ```
public enum EnvironmentsFile {
    /// Problems with the file, one line each (`file:line: environments[i].field: what; what to do`).
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var lines: [String]
        public var description: String { lines.joined(separator: "\n") }
    }

    static let fields: Set<String> = [
        "name", "context", "kubeconfig", "namespace", "image", "route", "gateway", "autoscaler", "prometheus",
    ]

    /// The file for a process environment: `<CortexHome>/environments.yaml`.
    public static func path(environment: [String: String]) -> String {
        CortexHome.path(environment: environment) + "/environments.yaml"
    }

    /// The environments of `yaml` (the text of `file`), validated: every error names the file, the line,
    /// the environment and the field.
    public static func parse(yaml: String, file: String) throws(Invalid) -> [ClusterEnvironment] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw Invalid(lines: ["\(file): not valid YAML: \(error)"])
        }
        guard let root, case .mapping(let top) = root else {
            throw Invalid(lines: ["\(file): expected a map with an `environments` list"])
        }
        var problems: [String] = []
        func at(_ node: Node) -> String { node.mark.map { "\(file):\($0.line)" } ?? file }
        for (key, _) in top where key.string != "environments" {
            problems.append("\(at(key)): unknown key \(key.string ?? "?") (expected `environments`)")
        }
        guard let list = top["environments"] else {
            throw Invalid(lines: problems + ["\(file): missing `environments` (a list of environments)"])
        }
        guard case .sequence(let items) = list else {
            throw Invalid(lines: problems + ["\(at(list)): environments: expected a list"])
        }
        var environments: [ClusterEnvironment] = []
        var names: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let label = "environments[\(index)]"
            guard case .mapping(let map) = item else {
                problems.append("\(at(item)): \(label): expected a map with name, context, …")
                continue
            }
            var strings: [String: String] = [:]
            for (key, value) in map {
                let field = key.string ?? "?"
                guard fields.contains(field) else {
                    problems.append(
                        "\(at(key)): \(label).\(field): unknown field (expected one of \(fields.sorted().joined(separator: ", ")))"
                    )
                    continue
                }
                guard case .scalar(let scalar) = value, !scalar.string.isEmpty else {
                    problems.append("\(at(value)): \(label).\(field): expected a non-empty string")
                    continue
                }
                strings[field] = scalar.string
            }
            let shown = strings["name"].map { "\(label) (\($0))" } ?? label
            guard let name = strings["name"] else {
                problems.append("\(at(item)): \(label).name: required (what --env names)")
                continue
            }
            if name == "local" {
                problems.append(
                    "\(at(item)): \(shown).name: \"local\" is the local operator's name; choose another one")
            }
            if let first = names[name] {
                problems.append("\(at(item)): \(shown).name: \(name) is also environments[\(first)]'s name")
            }
            names[name] = names[name] ?? index
            guard let context = strings["context"] else {
                problems.append(
                    "\(at(item)): \(shown).context: required (a context of your kubeconfig: kubectl config get-contexts)"
                )
                continue
            }
            var environment = ClusterEnvironment(name: name, context: context)
            environment.kubeconfig = strings["kubeconfig"].map { expandHome($0) }
            environment.namespace = strings["namespace"]
            environment.image = strings["image"]
            environment.gateway = strings["gateway"] ?? environment.gateway
            environment.prometheus = strings["prometheus"]
            if let route = strings["route"] {
                if let kind = ClusterRenderOptions.Route(rawValue: route) {
                    environment.route = kind
                } else {
                    problems.append("\(at(item)): \(shown).route: must be ingress or httproute, got \(route)")
                }
            }
            if let autoscaler = strings["autoscaler"] {
                if let kind = ClusterAutoscaler(rawValue: autoscaler) {
                    environment.autoscaler = kind
                } else {
                    problems.append("\(at(item)): \(shown).autoscaler: must be hpa or keda, got \(autoscaler)")
                }
            }
            environments.append(environment)
        }
        if !problems.isEmpty { throw Invalid(lines: problems) }
        return environments
    }

    /// The environment called `name` in the file of this process environment; a missing file or name
    /// is an error naming the file, the environments it defines, and what to do.
    public static func named(_ name: String, environment: [String: String]) throws(Invalid) -> ClusterEnvironment {
        let file = path(environment: environment)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw Invalid(lines: [
                "no environment named \(name): \(file) does not exist. Create it with an entry such as `environments: [{name: \(name), context: <kubeconfig context>, image: <image>}]` (see README, Running on Kubernetes; CORTEX_HOME moves it)"
            ])
        }
        let environments = try parse(yaml: text, file: file)
        guard let found = environments.first(where: { $0.name == name }) else {
            let defined = environments.isEmpty ? "none" : environments.map(\.name).joined(separator: ", ")
            throw Invalid(lines: [
                "no environment named \(name) in \(file) (defined: \(defined)); add it there or pick one of those"
            ])
        }
        return found
    }

    static func expandHome(_ path: String) -> String {
        path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst(1) : path
    }
}
