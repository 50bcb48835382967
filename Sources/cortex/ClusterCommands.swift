import ArgumentParser
import CortexApp
import Foundation
import KubernetesManifests

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a project on an existing Kubernetes cluster.", subcommands: [Render.self, Build.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write the Kubernetes objects of every API (Deployment, api-<name> Service, Ingress or HTTPRoute, HorizontalPodAutoscaler or KEDA ScaledObject, .env Secret) and a kustomization.yaml."
        )

        @Argument(help: "A project directory or a config file (default: ./cortex.yaml).")
        var path: String?

        @Option(name: .shortAndLong, help: "The directory to write to.")
        var output: String = "k8s"

        @Option(help: "The image that holds the binary, the runtime and the project (cortex cluster build).")
        var image: String = "cortex-project:latest"

        @Option(help: "The namespace of every object (default: the one kubectl uses).")
        var namespace: String?

        @Option(help: "How requests reach an endpoint: ingress or httproute (Gateway API).")
        var route: String = "ingress"

        @Option(help: "The Gateway an HTTPRoute attaches to.")
        var gateway: String = "cortex"

        @Option(
            help:
                "What scales each Deployment: hpa (a HorizontalPodAutoscaler, at least 1 replica) or keda (a KEDA ScaledObject; min_replicas 0 scales to zero)."
        )
        var autoscaler: String = "hpa"

        @Option(help: "With --autoscaler keda: the Prometheus server KEDA queries.")
        var prometheus: String = ClusterRenderOptions(image: "").prometheus

        func run() throws {
            guard let routeKind = ClusterRenderOptions.Route(rawValue: route) else {
                throw ValidationError("--route must be ingress or httproute, got \(route)")
            }
            guard let scaling = ClusterAutoscaler(rawValue: autoscaler) else {
                throw ValidationError("--autoscaler must be hpa or keda, got \(autoscaler)")
            }
            try CommandFailure.reportingSynchronously {
                let files = try ClusterRender.run(
                    path: path, directory: output,
                    options: ClusterRenderOptions(
                        image: image, namespace: namespace, route: routeKind, gateway: gateway, autoscaler: scaling,
                        prometheus: prometheus),
                    warn: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
                for file in files { print("\(output)/\(file)") }
            }
        }
    }
}

extension Cluster {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write a container build context for a project (Dockerfile, the static binary, the worker runtime, the staged project, its Python environment's requirements) and build it with docker or podman when an engine is reachable."
        )

        @Argument(help: "A project directory or a config file (default: ./cortex.yaml).")
        var path: String?

        @Option(help: "The image to build (what cluster render --image and the environments file name).")
        var tag: String = "cortex-project:latest"

        @Option(name: .shortAndLong, help: "The context directory (default: <project>/.cortex/build-context).")
        var output: String?

        @Option(
            help:
                "The cortex binary to put in the image, linked with --static-swift-stdlib (default: this executable, if it is)."
        )
        var binary: String?

        func run() throws {
            try CommandFailure.reportingSynchronously {
                _ = try ClusterBuild.run(path: path, tag: tag, directory: output, binary: binary) { print($0) }
            }
        }
    }
}
