import CortexConfig
import Foundation
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
        #expect(args.prefix(4) == [.string("serve"), .string("/cortex/project"), .string("--api"), .string("iris")])
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

    @Test(arguments: [(1.5, 0.75, 50, 25), (2.0, 0.5, 100, 50), (1.01, 0.99, 1, 1), (10, 0, 900, 100)])
    func stepLimitsBecomePercentPolicies(up: Double, down: Double, upPercent: Int, downPercent: Int) throws {
        var spec = try api(ManifestRendererTests.full).autoscaling
        spec.maxUpscaleFactor = up
        spec.maxDownscaleFactor = down
        #expect(HorizontalScaling.upscalePercent(spec) == upPercent)
        #expect(max(HorizontalScaling.downscalePercent(spec), 1) == downPercent)
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

extension ManifestValue {
    var yamlText: String { (try? yaml()) ?? "" }
}
