import ArgumentParser
import CortexApp
import Foundation
import KubernetesManifests

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a project on an existing Kubernetes cluster.", subcommands: [Render.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write the Kubernetes objects of every API (Deployment, api-<name> Service, Ingress or HTTPRoute, HorizontalPodAutoscaler, .env Secret) and a kustomization.yaml."
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

        func run() throws {
            guard let routeKind = ClusterRenderOptions.Route(rawValue: route) else {
                throw ValidationError("--route must be ingress or httproute, got \(route)")
            }
            do {
                let files = try ClusterRender.run(
                    path: path, directory: output,
                    options: ClusterRenderOptions(
                        image: image, namespace: namespace, route: routeKind, gateway: gateway))
                for file in files { print("\(output)/\(file)") }
            } catch let problems as PreparedProject.Problems {
                FileHandle.standardError.write(Data((problems.description + "\n").utf8))
                throw ExitCode.failure
            }
        }
    }
}
