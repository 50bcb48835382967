import CortexConfig
import Foundation
import Scheduling
import Testing

@testable import KubernetesManifests

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func api(_ yaml: String) throws -> APISpec {
    try #require(ConfigLoader.parse(yaml: yaml, file: "cortex.yaml").first)
}

let options = ClusterRenderOptions(image: "registry.example/project:1")

func object(_ manifests: [RenderedManifest], _ kind: String) throws -> ManifestValue {
    try #require(manifests.first { $0.object["kind"] == .string(kind) }?.object)
}

@Suite struct ManifestRendererTests {
    static let full = """
        - name: iris
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            env:
              ZED: "1"
              ALPHA: "true"
          networking:
            endpoint: /classify/iris
          compute:
            cpu: 500m
            mem: 1Gi
            gpu: 2
          autoscaling:
            min_replicas: 2
            max_replicas: 8
            init_replicas: 3
            target_replica_concurrency: 2.5
            max_upscale_factor: 3
            max_downscale_factor: 0.5
            upscale_stabilization_period: 30s
            downscale_stabilization_period: 2m
          update_strategy:
            max_surge: 1
            max_unavailable: 0%
        """

    @Test func theDeploymentServesThatAPIOnThePortTheServiceAndProbesUse() throws {
        let manifests = ManifestRenderer.render(
            api: try api(Self.full), dotEnv: [("TOKEN", "s3cr3t")], options: options)
        let deployment = try object(manifests, "Deployment")
        let spec = try #require(deployment["spec"])
        #expect(spec["replicas"] == .int(3))
        #expect(spec["strategy"]?["rollingUpdate"]?["maxSurge"] == .int(1))
        #expect(spec["strategy"]?["rollingUpdate"]?["maxUnavailable"] == .string("0%"))
        guard case .list(let containers) = spec["template"]?["spec"]?["containers"], let container = containers.first
        else {
            Issue.record("no container")
            return
        }
        #expect(container["image"] == .string("registry.example/project:1"))
        guard case .list(let args) = container["args"] else {
            Issue.record("no args")
            return
        }
        #expect(
            args.prefix(6) == [
                .string("serve"), .string("/cortex/project"), .string("--python-env"), .string("/cortex/env"),
                .string("--api"), .string("iris"),
            ])
        #expect(container["ports"] == .list([.map([("name", .string("http")), ("containerPort", .int(8888))])]))
        #expect(container["readinessProbe"]?["httpGet"]?["path"] == .string("/readyz"))
        #expect(container["livenessProbe"]?["httpGet"]?["path"] == .string("/healthz"))
        #expect(container["resources"]?["requests"]?["cpu"] == .string("500m"))
        #expect(container["resources"]?["requests"]?["memory"] == .string("1Gi"))
        #expect(container["resources"]?["limits"]?["nvidia.com/gpu"] == .int(2))
        guard case .list(let env) = container["env"] else {
            Issue.record("no env")
            return
        }
        #expect(env.map { $0["name"] } == [.string("ALPHA"), .string("ZED")])
        #expect(container["envFrom"]?.yamlText.contains("iris-env") == true)
        let secret = try object(manifests, "Secret")
        #expect(secret["stringData"]?["TOKEN"] == .string("s3cr3t"))
    }

    @Test func theServiceIsTheAPIToAPIName() throws {
        let service = try object(
            ManifestRenderer.render(api: try api(Self.full), dotEnv: [], options: options), "Service")
        #expect(service["metadata"]?["name"] == .string("api-iris"))
        #expect(service["spec"]?["selector"]?["apiName"] == .string("iris"))
        #expect(service["spec"]?["ports"]?.yamlText.contains("port: 8888") == true)
    }

    @Test func theEndpointIsRoutedByIngressOrHTTPRoute() throws {
        let spec = try api(Self.full)
        let ingress = try object(ManifestRenderer.render(api: spec, dotEnv: [], options: options), "Ingress")
        #expect(ingress.yamlText.contains("path: /classify/iris"))
        var gateway = options
        gateway.route = .httproute
        gateway.gateway = "public"
        let route = try object(ManifestRenderer.render(api: spec, dotEnv: [], options: gateway), "HTTPRoute")
        #expect(route.yamlText.contains("value: /classify/iris"))
        #expect(route.yamlText.contains("name: public"))
        #expect(route.yamlText.contains("name: api-iris"))
    }

    @Test func noDotEnvNoSecret() throws {
        let manifests = ManifestRenderer.render(api: try api(Self.full), dotEnv: [], options: options)
        #expect(manifests.allSatisfy { $0.object["kind"] != .string("Secret") })
    }

    @Test func yamlQuotesStringsThatWouldReadAsOtherTypes() throws {
        let value = ManifestValue.map([
            ("port", .string("8888")), ("flag", .string("true")), ("empty", .string("")),
            ("plain", .string("/metrics")),
            ("number", .int(3)),
        ])
        #expect(try value.yaml() == "port: \"8888\"\nflag: \"true\"\nempty: \"\"\nplain: /metrics\nnumber: 3\n")
    }
}

@Suite struct HorizontalScalingTests {
    @Test func theAutoscalerFollowsTheFields() throws {
        let hpa = try object(
            ManifestRenderer.render(api: try api(ManifestRendererTests.full), dotEnv: [], options: options),
            "HorizontalPodAutoscaler")
        let spec = try #require(hpa["spec"])
        #expect(spec["minReplicas"] == .int(2))
        #expect(spec["maxReplicas"] == .int(8))
        #expect(spec["metrics"]?.yamlText.contains("name: cortex_in_flight_requests") == true)
        #expect(spec["metrics"]?.yamlText.contains("averageValue: 2500m") == true)
        #expect(spec["behavior"]?["scaleUp"]?["stabilizationWindowSeconds"] == .int(30))
        #expect(spec["behavior"]?["scaleDown"]?["stabilizationWindowSeconds"] == .int(120))
        #expect(spec["behavior"]?["scaleUp"]?.yamlText.contains("value: 200") == true)
        #expect(spec["behavior"]?["scaleDown"]?.yamlText.contains("value: 50") == true)
    }

    @Test(arguments: [
        (1.5, 0.75, 50, 25), (2.0, 0.5, 100, 50), (1.01, 0.99, 1, 1), (10, 0, 900, 100), (1.15, 0.9, 15, 10),
        (1.001, 0.999, 1, 1),
    ])
    func stepLimitsBecomePercentPolicies(up: Double, down: Double, upPercent: Int, downPercent: Int) {
        let configuration = Autoscaler.Configuration(maxDownscaleFactor: down, maxUpscaleFactor: up)
        #expect(HorizontalScaling.upscalePercent(configuration) == upPercent)
        #expect(HorizontalScaling.downscalePercent(configuration) == downPercent)
    }

    /// The HPA's step limits (its policy arithmetic) equal the local autoscaler's: the largest and
    /// smallest recommendation ``Autoscaler`` makes from `current` replicas, for factors in whole percents.
    @Test(arguments: [(1.5, 0.75), (2.0, 0.5), (3.0, 0.25), (1.1, 0.9), (1.25, 0.8), (10, 0)])
    func theHPAStepsAreTheLocalAutoscalersSteps(up: Double, down: Double) {
        let configuration = Autoscaler.Configuration(
            minReplicas: 1, maxReplicas: 100_000, targetReplicaConcurrency: 1, maxDownscaleFactor: down,
            maxUpscaleFactor: up, downscaleTolerance: 0, upscaleTolerance: 0)
        let plan = HorizontalScaling.plan(configuration, apiName: "a", autoscaler: .hpa)
        for current in [1, 2, 3, 4, 5, 7, 10, 13, 20, 33, 64, 100, 999] {
            let local = Autoscaler.recommendation(
                averageInFlight: 1e9, current: current, configuration: configuration)
            #expect(HorizontalScaling.scaleUpLimit(current: current, plan: plan) == local, "up from \(current)")
            let localDown = Autoscaler.recommendation(
                averageInFlight: 0, current: current, configuration: configuration)
            #expect(
                max(HorizontalScaling.scaleDownLimit(current: current, plan: plan), plan.minReplicas) == localDown,
                "down from \(current)")
        }
    }

    @Test(arguments: [
        // (min, max, up window, down window, target, autoscaler) → (minReplicas, target, warned)
        (1, 100, 60.0, 300.0, 1.0, ClusterAutoscaler.hpa, 1, "1", false),
        (0, 5, 0, 30, 2.5, .hpa, 1, "2500m", true),
        (0, 5, 0, 30, 2.5, .keda, 0, "2500m", false),
        (3, 3, 15, 600, 0.25, .hpa, 3, "250m", false),
    ])
    func thePlanFollowsTheConfiguration(
        min: Int, max: Int, upWindow: Double, downWindow: Double, target: Double, autoscaler: ClusterAutoscaler,
        minReplicas: Int, quantity: String, warned: Bool
    ) {
        let configuration = Autoscaler.Configuration(
            minReplicas: min, maxReplicas: max, targetReplicaConcurrency: target,
            downscaleStabilizationPeriod: downWindow, upscaleStabilizationPeriod: upWindow)
        let plan = HorizontalScaling.plan(configuration, apiName: "api", autoscaler: autoscaler)
        #expect(plan.minReplicas == minReplicas)
        #expect(plan.maxReplicas == max)
        #expect(plan.target == quantity)
        #expect(plan.scaleUpWindowSeconds == Int(upWindow))
        #expect(plan.scaleDownWindowSeconds == Int(downWindow))
        #expect(plan.warnings.isEmpty == !warned)
        if warned { #expect(plan.warnings.first?.contains("--autoscaler keda") == true) }
    }

    @Test func kedaRendersAScaledObjectThatMayReachZero() throws {
        let spec = try api(
            """
            - name: idle
              kind: RealtimeAPI
              predictor: {type: python, path: predictor.py}
              autoscaling: {min_replicas: 0, max_replicas: 4, target_replica_concurrency: 2, window: 30s}
            """)
        var keda = options
        keda.autoscaler = .keda
        keda.prometheus = "http://prom:9090"
        let manifests = ManifestRenderer.render(api: spec, dotEnv: [], options: keda)
        #expect(manifests.allSatisfy { $0.object["kind"] != .string("HorizontalPodAutoscaler") })
        let scaled = try object(manifests, "ScaledObject")
        #expect(scaled["apiVersion"] == .string("keda.sh/v1alpha1"))
        #expect(scaled["spec"]?["minReplicaCount"] == .int(0))
        #expect(scaled["spec"]?["maxReplicaCount"] == .int(4))
        let text = scaled.yamlText
        #expect(text.contains("query: sum(avg_over_time(cortex_in_flight_requests{api=\"idle\"}[30s]))"))
        #expect(text.contains("threshold: \"2\""))
        #expect(text.contains("serverAddress: http://prom:9090"))
        #expect(try object(manifests, "Deployment")["spec"]?["replicas"] == .int(0))
        #expect(ManifestRenderer.warnings(api: spec, options: keda).isEmpty)
        let hpa = try object(
            ManifestRenderer.render(api: spec, dotEnv: [], options: options), "HorizontalPodAutoscaler")
        #expect(hpa["spec"]?["minReplicas"] == .int(1))
        #expect(ManifestRenderer.warnings(api: spec, options: options).count == 1)
    }

    @Test(arguments: [(1.0, "1"), (2.5, "2500m"), (0.25, "250m"), (16, "16")])
    func targetsAreQuantities(concurrency: Double, quantity: String) {
        #expect(HorizontalScaling.targetQuantity(concurrency) == quantity)
    }
}

/// Every example's rendered objects, checked in as golden files (reviewed by hand once): a change to
/// the rendering shows up as a diff. `UPDATE_GOLDEN=1 swift test --filter GoldenManifestTests` rewrites them.
@Suite struct GoldenManifestTests {
    static let examples = [
        "echo", "file-upload", "image-bytes", "iris-sklearn", "live-reloading", "onnx-iris", "tensorflow-iris",
    ]

    @Test(arguments: examples)
    func matchesTheGoldenFiles(example: String) throws {
        let config = repositoryRoot.appendingPathComponent("examples/\(example)/cortex.yaml")
        let specs = try ConfigLoader.parse(yaml: String(contentsOf: config, encoding: .utf8), file: "cortex.yaml")
        let golden = repositoryRoot.appendingPathComponent("Tests/KubernetesManifestsTests/golden/\(example)")
        let update = ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1"
        if update { try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true) }
        var files: [String] = []
        for spec in specs {
            for manifest in ManifestRenderer.render(api: spec, dotEnv: [], options: options) {
                let text = try manifest.object.yaml()
                let path = golden.appendingPathComponent(manifest.fileName)
                files.append(manifest.fileName)
                if update { try text.write(to: path, atomically: true, encoding: .utf8) }
                #expect(try String(contentsOf: path, encoding: .utf8) == text, "\(example)/\(manifest.fileName)")
            }
        }
        let kustomization = try ManifestRenderer.kustomization(files: files, namespace: nil).yaml()
        let path = golden.appendingPathComponent("kustomization.yaml")
        if update { try kustomization.write(to: path, atomically: true, encoding: .utf8) }
        #expect(try String(contentsOf: path, encoding: .utf8) == kustomization)
    }
}

@Suite struct DockerfileTests {
    /// The image runs what the Deployment runs: the entrypoint is the binary, the Deployment's args are
    /// the image's command for one API, with the environment installed at build time.
    @Test func theImageAndTheDeploymentAgree() throws {
        let lines = Dockerfile(dependenciesScript: false, source: "p/cortex.yaml").lines
        #expect(lines.contains("ENTRYPOINT [\"/usr/local/bin/cortex\"]"))
        #expect(lines.contains("COPY cortex /usr/local/bin/cortex"))
        #expect(lines.contains("COPY runtime/ /usr/local/share/cortex/python/"))
        #expect(lines.contains("RUN python3 -m venv /cortex/env"))
        #expect(lines.contains("EXPOSE 8888"))
        let deployment = try object(
            ManifestRenderer.render(api: try api(ManifestRendererTests.full), dotEnv: [], options: options),
            "Deployment")
        guard case .list(let containers) = deployment["spec"]?["template"]?["spec"]?["containers"],
            case .list(let args) = containers.first?["args"]
        else {
            Issue.record("no args")
            return
        }
        let strings = args.compactMap { if case .string(let s) = $0 { s } else { nil } }
        #expect(
            Array(strings.prefix(4)) == ["serve", ImageLayout.project, "--python-env", ImageLayout.pythonEnvironment])
        #expect(strings.contains("--api") && strings.contains("iris"))
        #expect(containers.first?["command"] == nil, "the image's ENTRYPOINT runs the args")
        // The install comes before the project, so a code change reuses the environment's layer.
        let install = try #require(lines.firstIndex { $0.contains("pip install") })
        let project = try #require(lines.firstIndex { $0.hasPrefix("COPY project/") })
        #expect(install < project)
    }

    @Test func dependenciesScriptRunsInTheProjectBeforeTheRequirements() throws {
        let lines = Dockerfile(dependenciesScript: true, source: "p/cortex.yaml").lines
        let project = try #require(lines.firstIndex { $0.hasPrefix("COPY project/") })
        let script = try #require(lines.firstIndex { $0.contains("bash /cortex/build/dependencies.sh") })
        let install = try #require(lines.firstIndex { $0.contains("pip install") })
        #expect(project < script && script < install)
        #expect(lines[script].contains("cd /cortex/project") && lines[script].contains("PATH=/cortex/env/bin:$PATH"))
        #expect(lines.filter { $0.hasPrefix("COPY project/") }.count == 1)
    }
}

extension ManifestValue {
    var yamlText: String { (try? yaml()) ?? "" }
}
