import CortexConfig
import Scheduling

/// Where `cortex cluster build` puts things in the image, and what the rendered Deployment runs: one
/// place, so the image and the Deployment agree.
public enum ImageLayout {
    /// The static `cortex` binary (the image's entrypoint).
    public static let binary = "/usr/local/bin/cortex"
    /// The Python worker runtime, where the binary looks for it (`<bin>/../share/cortex/python`).
    public static let runtime = "/usr/local/share/cortex/python"
    /// The staged project, with its config as `cortex.yaml`.
    public static let project = "/cortex/project"
    /// The API's Python environment, installed at build time and served with `--python-env`.
    public static let pythonEnvironment = "/cortex/env"
    /// The base image: Debian bookworm, slim, with Debian's Python 3.11 installed on top.
    public static let base = "debian:bookworm-slim"

    /// The arguments after the binary that serve `api` (or every API when nil) of the project at
    /// `projectPath` on `port`, with the image's Python environment.
    public static func serveArguments(
        projectPath: String = project, api: String?, port: Int, grace: Int, drainDelay: Int
    ) -> [String] {
        ["serve", projectPath, "--python-env", pythonEnvironment] + (api.map { ["--api", $0] } ?? [])
            + [
                "--host", "0.0.0.0", "--port", String(port), "--grace", String(grace), "--drain-delay",
                String(drainDelay),
            ]
    }
}

/// How `cortex cluster render` renders (command-line options).
public struct ClusterRenderOptions: Sendable {
    /// How a request reaches an API's endpoint from outside the cluster.
    public enum Route: String, Sendable, CaseIterable {
        /// A `networking.k8s.io/v1` Ingress.
        case ingress
        /// A Gateway API `HTTPRoute` attached to `gateway`.
        case httproute
    }

    /// The image built by `cortex cluster build` (the binary, the runtime, the project, its environment).
    public var image: String
    public var namespace: String?
    public var route: Route
    /// The Gateway an `HTTPRoute` attaches to.
    public var gateway: String
    /// Where the project is inside the image.
    public var projectPath: String
    /// Seconds a pod keeps serving after Kubernetes asks it to stop, before draining (`preStop`), so
    /// Services and load balancers drop it first.
    public var preStopDelay: Int
    /// `cortex serve --grace`: seconds the drain may take.
    public var drainGrace: Int
    /// What scales the Deployment: an HPA (at least one replica) or a KEDA ScaledObject (may reach zero).
    public var autoscaler: ClusterAutoscaler
    /// The Prometheus server KEDA's scaler queries (with `autoscaler` `.keda`).
    public var prometheus: String

    public init(
        image: String, namespace: String? = nil, route: Route = .ingress, gateway: String = "cortex",
        projectPath: String = ImageLayout.project, preStopDelay: Int = 5, drainGrace: Int = 30,
        autoscaler: ClusterAutoscaler = .hpa,
        prometheus: String = "http://prometheus-server.monitoring.svc.cluster.local"
    ) {
        self.image = image
        self.namespace = namespace
        self.route = route
        self.gateway = gateway
        self.projectPath = projectPath
        self.preStopDelay = preStopDelay
        self.drainGrace = drainGrace
        self.autoscaler = autoscaler
        self.prometheus = prometheus
    }
}

/// One rendered object and the file it goes to.
public struct RenderedManifest: Sendable, Equatable {
    public var fileName: String
    public var object: ManifestValue
}

/// Renders an API of a `cortex.yaml` into the Kubernetes objects that run it on a cluster (pure): a
/// Deployment running `cortex serve` for that API alone, the `api-<name>` Service (so the API-to-API URL
/// `http://api-<name>:8888/predict` works unchanged), an Ingress or HTTPRoute for its endpoint, a Secret
/// for the project's `.env`, and a HorizontalPodAutoscaler (or, with `--autoscaler keda`, a KEDA
/// ScaledObject) computed from its `autoscaling` fields through the local autoscaler's configuration.
public enum ManifestRenderer {
    /// The port `cortex serve` listens on in a pod (Cortex's serving port).
    public static let port = 8888

    public static func render(
        api: APISpec, dotEnv: [(name: String, value: String)], options: ClusterRenderOptions
    ) -> [RenderedManifest] {
        let plan = scalingPlan(api, options)
        let scaling =
            options.autoscaler == .hpa
            ? RenderedManifest(
                fileName: "\(api.name)-hpa.yaml",
                object: HorizontalScaling.autoscaler(api.name, plan: plan, metadata: metadata(api.name, api, options)))
            : RenderedManifest(
                fileName: "\(api.name)-scaledobject.yaml",
                object: HorizontalScaling.scaledObject(
                    api.name, plan: plan, prometheus: options.prometheus, metadata: metadata(api.name, api, options)))
        var objects = [
            RenderedManifest(
                fileName: "\(api.name)-deployment.yaml", object: deployment(api, dotEnv: !dotEnv.isEmpty, options)),
            RenderedManifest(fileName: "\(api.name)-service.yaml", object: service(api, options)),
            RenderedManifest(
                fileName: "\(api.name)-\(options.route == .ingress ? "ingress" : "httproute").yaml",
                object: options.route == .ingress ? ingress(api, options) : httpRoute(api, options)),
            scaling,
        ]
        if !dotEnv.isEmpty {
            objects.append(
                RenderedManifest(fileName: "\(api.name)-env-secret.yaml", object: secret(api, dotEnv, options)))
        }
        return objects
    }

    /// What the rendering of `api` could not do as configured (e.g. `min_replicas: 0` without KEDA), one
    /// line each, for the command to print as warnings.
    public static func warnings(api: APISpec, options: ClusterRenderOptions) -> [String] {
        scalingPlan(api, options).warnings
    }

    /// The cluster scaling of `api`, from the same ``Autoscaler/Configuration`` the local autoscaler runs on.
    public static func scalingPlan(_ api: APISpec, _ options: ClusterRenderOptions) -> HorizontalScaling.Plan {
        HorizontalScaling.plan(
            Autoscaler.Configuration(api.autoscaling), apiName: api.name, autoscaler: options.autoscaler)
    }

    /// The `kustomization.yaml` listing every file, so `kubectl apply -k DIR` applies them.
    public static func kustomization(files: [String], namespace: String?) -> ManifestValue {
        var pairs: [(String, ManifestValue)] = [
            ("apiVersion", .string("kustomize.config.k8s.io/v1beta1")), ("kind", .string("Kustomization")),
        ]
        if let namespace { pairs.append(("namespace", .string(namespace))) }
        pairs.append(("resources", .list(files.sorted().map(ManifestValue.string))))
        return .map(pairs)
    }

    // MARK: Objects

    /// The labels Cortex put on an API's objects.
    static func labels(_ api: APISpec) -> ManifestValue {
        .map([
            ("apiName", .string(api.name)), ("apiKind", .string(api.kind)),
            ("app.kubernetes.io/managed-by", .string("cortex-swift")),
        ])
    }

    static func metadata(_ name: String, _ api: APISpec, _ options: ClusterRenderOptions) -> ManifestValue {
        var pairs: [(String, ManifestValue)] = [("name", .string(name))]
        if let namespace = options.namespace { pairs.append(("namespace", .string(namespace))) }
        pairs.append(("labels", labels(api)))
        return .map(pairs)
    }

    static func object(
        _ apiVersion: String, _ kind: String, _ metadata: ManifestValue, _ rest: [(String, ManifestValue)]
    )
        -> ManifestValue
    {
        .map([("apiVersion", .string(apiVersion)), ("kind", .string(kind)), ("metadata", metadata)] + rest)
    }

    static func serviceName(_ api: APISpec) -> String { "api-\(api.name)" }

    static func deployment(_ api: APISpec, dotEnv: Bool, _ options: ClusterRenderOptions) -> ManifestValue {
        let probe = { (path: String, period: Int, failures: Int) -> ManifestValue in
            .map([
                ("httpGet", .map([("path", .string(path)), ("port", .string("http"))])),
                ("periodSeconds", .int(period)), ("failureThreshold", .int(failures)),
            ])
        }
        var container: [(String, ManifestValue)] = [
            ("name", .string("api")),
            ("image", .string(options.image)),
            (
                "args",
                .list(
                    ImageLayout.serveArguments(
                        projectPath: options.projectPath, api: api.name, port: port, grace: options.drainGrace,
                        drainDelay: 0
                    ).map(ManifestValue.string))
            ),
            ("ports", .list([.map([("name", .string("http")), ("containerPort", .int(port))])])),
            ("readinessProbe", probe("/readyz", 2, 1)),
            ("livenessProbe", probe("/healthz", 10, 3)),
            (
                "lifecycle",
                .map([
                    (
                        "preStop",
                        .map([
                            (
                                "exec",
                                .map([
                                    (
                                        "command",
                                        .list(
                                            ["/bin/sh", "-c", "sleep \(options.preStopDelay)"].map(ManifestValue.string)
                                        )
                                    )
                                ])
                            )
                        ])
                    )
                ])
            ),
        ]
        if let resources = resources(api.compute) { container.append(("resources", resources)) }
        if !api.predictor.env.isEmpty {
            container.append(
                (
                    "env",
                    .list(
                        api.predictor.env.sorted { $0.key < $1.key }.map {
                            .map([("name", .string($0.key)), ("value", .string($0.value))])
                        })
                ))
        }
        if dotEnv {
            container.append(("envFrom", .list([.map([("secretRef", .map([("name", .string("\(api.name)-env"))]))])])))
        }
        let selector: ManifestValue = .map([("apiName", .string(api.name))])
        return object(
            "apps/v1", "Deployment", metadata(api.name, api, options),
            [
                (
                    "spec",
                    .map([
                        (
                            "replicas",
                            .int(
                                options.autoscaler == .keda
                                    ? api.autoscaling.initReplicas : max(api.autoscaling.initReplicas, 1))
                        ),
                        ("selector", .map([("matchLabels", selector)])),
                        (
                            "strategy",
                            .map([
                                ("type", .string("RollingUpdate")),
                                (
                                    "rollingUpdate",
                                    .map([
                                        ("maxSurge", intOrPercent(api.updateStrategy.maxSurge)),
                                        ("maxUnavailable", intOrPercent(api.updateStrategy.maxUnavailable)),
                                    ])
                                ),
                            ])
                        ),
                        (
                            "template",
                            .map([
                                (
                                    "metadata",
                                    .map([
                                        ("labels", labels(api)),
                                        (
                                            "annotations",
                                            .map([
                                                ("prometheus.io/scrape", .string("true")),
                                                ("prometheus.io/port", .string(String(port))),
                                                ("prometheus.io/path", .string("/metrics")),
                                            ])
                                        ),
                                    ])
                                ),
                                (
                                    "spec",
                                    .map([
                                        (
                                            "terminationGracePeriodSeconds",
                                            .int(options.preStopDelay + options.drainGrace + 5)
                                        ),
                                        ("containers", .list([.map(container)])),
                                    ])
                                ),
                            ])
                        ),
                    ])
                )
            ])
    }

    /// `compute`: cpu and mem become requests (as Cortex did), gpu becomes `nvidia.com/gpu` (requests
    /// and limits, which Kubernetes requires to be equal for extended resources).
    static func resources(_ compute: ComputeSpec) -> ManifestValue? {
        var requests: [(String, ManifestValue)] = []
        var limits: [(String, ManifestValue)] = []
        if let cpu = compute.cpu { requests.append(("cpu", .string(cpu))) }
        if let mem = compute.mem { requests.append(("memory", .string(mem))) }
        if compute.gpu > 0 {
            requests.append(("nvidia.com/gpu", .int(compute.gpu)))
            limits.append(("nvidia.com/gpu", .int(compute.gpu)))
        }
        if requests.isEmpty { return nil }
        var pairs: [(String, ManifestValue)] = [("requests", .map(requests))]
        if !limits.isEmpty { pairs.append(("limits", .map(limits))) }
        return .map(pairs)
    }

    /// `25%` stays a string; `1` becomes an integer (Kubernetes' IntOrString).
    static func intOrPercent(_ text: String) -> ManifestValue {
        Int(text).map(ManifestValue.int) ?? .string(text)
    }

    static func service(_ api: APISpec, _ options: ClusterRenderOptions) -> ManifestValue {
        object(
            "v1", "Service", metadata(serviceName(api), api, options),
            [
                (
                    "spec",
                    .map([
                        ("selector", .map([("apiName", .string(api.name))])),
                        (
                            "ports",
                            .list([
                                .map([
                                    ("name", .string("http")), ("port", .int(port)), ("targetPort", .string("http")),
                                ])
                            ])
                        ),
                    ])
                )
            ])
    }

    static func ingress(_ api: APISpec, _ options: ClusterRenderOptions) -> ManifestValue {
        let backend: ManifestValue = .map([
            ("service", .map([("name", .string(serviceName(api))), ("port", .map([("number", .int(port))]))]))
        ])
        return object(
            "networking.k8s.io/v1", "Ingress", metadata(api.name, api, options),
            [
                (
                    "spec",
                    .map([
                        (
                            "rules",
                            .list([
                                .map([
                                    (
                                        "http",
                                        .map([
                                            (
                                                "paths",
                                                .list([
                                                    .map([
                                                        ("path", .string(api.networking.endpoint)),
                                                        ("pathType", .string("Prefix")), ("backend", backend),
                                                    ])
                                                ])
                                            )
                                        ])
                                    )
                                ])
                            ])
                        )
                    ])
                )
            ])
    }

    static func httpRoute(_ api: APISpec, _ options: ClusterRenderOptions) -> ManifestValue {
        object(
            "gateway.networking.k8s.io/v1", "HTTPRoute", metadata(api.name, api, options),
            [
                (
                    "spec",
                    .map([
                        ("parentRefs", .list([.map([("name", .string(options.gateway))])])),
                        (
                            "rules",
                            .list([
                                .map([
                                    (
                                        "matches",
                                        .list([
                                            .map([
                                                (
                                                    "path",
                                                    .map([
                                                        ("type", .string("PathPrefix")),
                                                        ("value", .string(api.networking.endpoint)),
                                                    ])
                                                )
                                            ])
                                        ])
                                    ),
                                    (
                                        "backendRefs",
                                        .list([.map([("name", .string(serviceName(api))), ("port", .int(port))])])
                                    ),
                                ])
                            ])
                        ),
                    ])
                )
            ])
    }

    static func secret(_ api: APISpec, _ dotEnv: [(name: String, value: String)], _ options: ClusterRenderOptions)
        -> ManifestValue
    {
        object(
            "v1", "Secret", metadata("\(api.name)-env", api, options),
            [
                ("type", .string("Opaque")),
                ("stringData", .map(dotEnv.map { ($0.name, .string($0.value)) })),
            ])
    }
}
