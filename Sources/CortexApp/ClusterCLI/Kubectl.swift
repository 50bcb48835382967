import Foundation

/// `kubectl` bound to one environment's kubeconfig, context and namespace.
struct Kubectl {
    /// A cluster command that failed; `description` names the environment, the context and what to do.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var executable: String
    var environment: ClusterEnvironment

    init(environment: ClusterEnvironment) throws(Failure) {
        guard let executable = ExternalCommand.find(ProcessInfo.processInfo.environment["CORTEX_KUBECTL"] ?? "kubectl")
        else {
            throw Failure(
                description:
                    "kubectl is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/); environment \(environment.name) is used through it"
            )
        }
        self.executable = executable
        self.environment = environment
    }

    /// The arguments that select the environment's cluster and namespace.
    var scope: [String] {
        var arguments = ["--context", environment.context]
        if let kubeconfig = environment.kubeconfig { arguments += ["--kubeconfig", kubeconfig] }
        if let namespace = environment.namespace { arguments += ["--namespace", namespace] }
        return arguments
    }

    var kubeconfigShown: String {
        environment.kubeconfig ?? ProcessInfo.processInfo.environment["KUBECONFIG"] ?? "~/.kube/config"
    }

    /// Runs `kubectl <scope> arguments`, capturing its output.
    func capture(_ arguments: [String], input: String? = nil) throws(Failure) -> ExternalCommand.Result {
        do {
            return try ExternalCommand.capture(executable, scope + arguments, input: input)
        } catch {
            throw Failure(description: error.description)
        }
    }

    /// Runs `kubectl <scope> arguments` with this process's streams; returns its status.
    func inheriting(_ arguments: [String]) throws(Failure) -> Int32 {
        do {
            return try ExternalCommand.inheriting(executable, scope + arguments)
        } catch {
            throw Failure(description: error.description)
        }
    }

    /// Checks that the context exists and its API server answers, before anything is done: a clear
    /// error naming the context, its server and the kubeconfig otherwise.
    func checkReachable() throws(Failure) {
        var configScope = ["config", "view", "--minify", "--context", environment.context]
        if let kubeconfig = environment.kubeconfig { configScope += ["--kubeconfig", kubeconfig] }
        let view: ExternalCommand.Result
        do {
            view = try ExternalCommand.capture(
                executable, configScope + ["-o", "jsonpath={.clusters[0].cluster.server}"])
        } catch {
            throw Failure(description: error.description)
        }
        guard view.status == 0 else {
            throw Failure(
                description:
                    "environment \(environment.name): kubeconfig context \(environment.context) is not in \(kubeconfigShown) (\(firstLine(view.stderr))); fix `context` in the environments file or add the context (kubectl config get-contexts lists them)"
            )
        }
        let server = view.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let probe = try capture(["get", "--raw", "/version", "--request-timeout=10s"])
        guard probe.status == 0 else {
            throw Failure(
                description:
                    "environment \(environment.name): cannot reach the cluster of kubeconfig context \(environment.context) (server \(server.isEmpty ? "unknown" : server), kubeconfig \(kubeconfigShown)): kubectl says \"\(firstLine(probe.stderr))\". Check that the cluster runs and that `kubectl --context \(environment.context) get nodes` works."
            )
        }
    }

    /// A failed command as one error: the command and kubectl's own message.
    func failure(_ what: String, _ result: ExternalCommand.Result) -> Failure {
        Failure(
            description:
                "environment \(environment.name) (context \(environment.context)): \(what) failed (kubectl exit status \(result.status)): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        )
    }

    func firstLine(_ text: String) -> String {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
            ?? "no message"
    }
}
