import Foundation
import KubernetesManifests
import Testing

@testable import CortexApp

@Suite struct CortexHomeTests {
    @Test(arguments: [
        (["CORTEX_HOME": "/srv/cortex", "XDG_STATE_HOME": "/x", "HOME": "/h"], "/srv/cortex"),
        (["XDG_STATE_HOME": "/x", "HOME": "/h"], "/x/cortex"),
        (["CORTEX_HOME": "", "HOME": "/h"], "/h/.local/state/cortex"),
        (["HOME": "/home/me"], "/home/me/.local/state/cortex"),
    ])
    func resolution(environment: [String: String], expected: String) {
        #expect(CortexHome.path(environment: environment) == expected)
        #expect(EnvironmentsFile.path(environment: environment) == expected + "/environments.yaml")
    }
}

@Suite struct EnvironmentsFileTests {
    @Test func parsesEveryField() throws {
        let environments = try EnvironmentsFile.parse(
            yaml: """
                environments:
                  - name: prod
                    context: prod-ctx
                    kubeconfig: /etc/kube/prod
                    namespace: ml
                    image: reg.example/p:1
                    route: httproute
                    gateway: edge
                    autoscaler: keda
                    prometheus: http://prom:9090
                  - name: dev
                    context: kind-dev
                """, file: "environments.yaml")
        #expect(
            environments == [
                ClusterEnvironment(
                    name: "prod", context: "prod-ctx", kubeconfig: "/etc/kube/prod", namespace: "ml",
                    image: "reg.example/p:1", route: .httproute, gateway: "edge", autoscaler: .keda,
                    prometheus: "http://prom:9090"),
                ClusterEnvironment(name: "dev", context: "kind-dev"),
            ])
        let options = environments[0].renderOptions(image: "reg.example/p:1")
        #expect(options.route == .httproute && options.autoscaler == .keda && options.prometheus == "http://prom:9090")
        #expect(options.namespace == "ml")
    }

    @Test(arguments: [
        ("environments:\n  - name: a\n", "f.yaml:2: environments[0] (a).context: required"),
        ("environments:\n  - context: c\n", "f.yaml:2: environments[0].name: required"),
        (
            "environments:\n  - name: a\n    context: c\n    route: nginx\n",
            "environments[0] (a).route: must be ingress or httproute, got nginx"
        ),
        (
            "environments:\n  - name: a\n    context: c\n    autoscaler: knative\n",
            "environments[0] (a).autoscaler: must be hpa or keda, got knative"
        ),
        (
            "environments:\n  - name: a\n    context: c\n    contxt: d\n",
            "f.yaml:4: environments[0].contxt: unknown field"
        ),
        ("environments:\n  - name: local\n    context: c\n", "\"local\" is the local operator's name"),
        (
            "environments:\n  - {name: a, context: c}\n  - {name: a, context: d}\n",
            "environments[1] (a).name: a is also environments[0]'s name"
        ),
        ("environments: {name: a}\n", "f.yaml:1: environments: expected a list"),
        ("envs: []\n", "f.yaml:1: unknown key envs"),
        (
            "environments:\n  - name: a\n    context: [x]\n",
            "f.yaml:3: environments[0].context: expected a non-empty string"
        ),
        ("- a\n", "f.yaml: expected a map with an `environments` list"),
    ])
    func errorsNameTheFileLineAndField(yaml: String, expected: String) {
        do {
            _ = try EnvironmentsFile.parse(yaml: yaml, file: "f.yaml")
            Issue.record("accepted \(yaml)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func anUnknownNameListsTheDefinedOnesAndTheFile() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("wtc-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let environment = ["CORTEX_HOME": home]
        do {
            _ = try EnvironmentsFile.named("prod", environment: environment)
            Issue.record("found prod without a file")
        } catch {
            #expect(error.description.contains("\(home)/environments.yaml does not exist"))
        }
        try "environments:\n  - {name: dev, context: a}\n  - {name: stage, context: b}\n".write(
            toFile: home + "/environments.yaml", atomically: true, encoding: .utf8)
        #expect(try EnvironmentsFile.named("stage", environment: environment).context == "b")
        do {
            _ = try EnvironmentsFile.named("prod", environment: environment)
            Issue.record("found prod")
        } catch {
            #expect(
                error.description
                    == "no environment named prod in \(home)/environments.yaml (defined: dev, stage); add it there or pick one of those"
            )
        }
    }
}

@Suite struct ClusterStatusTests {
    static func deployment(
        replicas: Int = 2, generation: Int = 3, observed: Int = 3, total: Int = 2, updated: Int = 2,
        available: Int = 2, progressing: (String, String)? = nil
    ) -> KubernetesObject {
        var conditions: [KubernetesObject.Condition] = []
        if let (status, reason) = progressing {
            conditions.append(
                .init(
                    type: "Progressing", status: status, reason: reason, message: "deadline",
                    lastUpdateTime: "2026-01-01T00:00:00Z"))
        }
        return KubernetesObject(
            kind: "Deployment",
            metadata: .init(
                name: "iris", labels: ["apiName": "iris", "apiKind": "RealtimeAPI"], generation: generation,
                creationTimestamp: "2026-01-01T00:00:00Z"),
            spec: .init(replicas: replicas, rules: nil),
            status: .init(
                observedGeneration: observed, replicas: total, updatedReplicas: updated, readyReplicas: available,
                availableReplicas: available, conditions: conditions, phase: nil, containerStatuses: nil,
                loadBalancer: nil))
    }

    static func pod(waiting: String? = nil, lastTerminated: String? = nil, pending: Bool = false) -> KubernetesObject {
        KubernetesObject(
            kind: "Pod", metadata: .init(name: "iris-abc", labels: ["apiName": "iris"]), spec: nil,
            status: .init(
                conditions: pending
                    ? [.init(type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes")]
                    : [],
                phase: pending ? "Pending" : "Running",
                containerStatuses: pending
                    ? nil
                    : [
                        .init(
                            state: .init(waiting: waiting.map { .init(reason: $0) }),
                            lastState: .init(terminated: lastTerminated.map { .init(reason: $0) }), ready: false)
                    ]))
    }

    @Test(arguments: [
        (deployment(), [KubernetesObject](), CortexStatusCode.live),
        (deployment(generation: 4, observed: 3), [], .updating),
        (deployment(total: 3, updated: 1, available: 2), [], .updating),
        (deployment(total: 3, updated: 1, available: 2), [pod(waiting: "ImagePullBackOff")], .errorImagePull),
        (deployment(total: 3, updated: 1, available: 2), [pod(waiting: "CrashLoopBackOff")], .error),
        (deployment(total: 3, updated: 1, available: 2), [pod(lastTerminated: "OOMKilled")], .oom),
        (deployment(replicas: 3, total: 3, updated: 3, available: 2), [pod(pending: true)], .stalled),
        (deployment(replicas: 3, total: 3, updated: 3, available: 2), [], .live),
        (deployment(replicas: 1, total: 1, updated: 1, available: 0), [], .updating),
        (
            deployment(total: 3, updated: 1, available: 2, progressing: ("False", "ProgressDeadlineExceeded")), [],
            .error
        ),
        (deployment(replicas: 0, total: 0, updated: 0, available: 0), [], .live),
        (
            deployment(total: 3, updated: 1, available: 2),
            [pod(waiting: "CrashLoopBackOff"), pod(waiting: "ErrImagePull")], .errorImagePull
        ),
    ])
    func deploymentStatusMapsToCortexCodes(
        deployment: KubernetesObject, pods: [KubernetesObject], code: CortexStatusCode
    ) {
        #expect(ClusterAPIStatus.of(deployment: deployment, pods: pods, ingresses: []).code == code)
    }

    @Test func readsKubectlsListAndShowsCortexsShapes() throws {
        let json = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"kind": "Deployment", "metadata": {"name": "iris", "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"apiName": "iris", "apiKind": "RealtimeAPI"}},
               "spec": {"replicas": 2, "selector": {}},
               "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                 "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                 "lastUpdateTime": "2026-01-01T00:10:00Z"}]}},
              {"kind": "Ingress", "metadata": {"name": "iris", "labels": {"apiName": "iris"}},
               "spec": {"rules": [{"http": {"paths": [{"path": "/v1/iris"}]}}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
            ]}
            """
        let objects = try KubernetesObject.list(json: Data(json.utf8))
        let status = ClusterAPIStatus.of(
            deployment: objects[0], pods: [], ingresses: objects.filter { $0.kind == "Ingress" })
        #expect(status.code == .live && status.requested == 2 && status.endpoint == "http://203.0.113.7/v1/iris")
        let now = try #require(ISO8601DateFormatter().date(from: "2026-01-01T02:10:00Z"))
        let table = ClusterAPIStatus.table([status], environment: "prod", now: now)
        #expect(
            table == """
                env    realtime api   status   up-to-date   requested   last update
                prod   iris           live     2            2           2h

                endpoint: http://203.0.113.7/v1/iris
                """)
        let decoded = try #require(
            try JSONSerialization.jsonObject(with: Data(ClusterAPIStatus.json([status], environment: "prod").utf8))
                as? [String: Any])
        let api = try #require((decoded["realtime_apis"] as? [[String: Any]])?.first)
        #expect((api["spec"] as? [String: Any])?["name"] as? String == "iris")
        #expect((api["status"] as? [String: Any])?["status_code"] as? String == "status_live")
        #expect(api["endpoint"] as? String == "http://203.0.113.7/v1/iris")
        #expect(ClusterAPIStatus.table([], environment: "prod", now: now) == "no apis are deployed in environment prod")
    }
}

@Suite struct ELFFileTests {
    /// This test binary is dynamically linked against the Swift runtime (a debug build): its needed
    /// libraries name libswiftCore; a shell script is not an ELF file.
    @Test func readsTheNeededLibraries() throws {
        let needed = try ELFFile.neededLibraries(path: "/proc/self/exe")
        #expect(needed.contains("libswiftCore.so"))
        #expect(needed.contains { $0.hasPrefix("libc.so") })
        #expect(throws: ELFFile.Unreadable.self) { try ELFFile.neededLibraries(path: "/etc/hostname") }
    }
}
