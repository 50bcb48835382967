/// The operating commands (`deploy`, `get`, `logs`, `delete`, `refresh`) against a Kubernetes cluster
/// named in `$CORTEX_HOME/environments.yaml`, through `kubectl`.
/// TEMPORARY SEAM: the bodies are being built on another branch.
public enum ClusterCLI {
    struct NotYet: Error, CustomStringConvertible { var description: String { "--env is not available yet" } }
    public static func deploy(path: String?, environment: String, dryRun: Bool, wait: Bool) throws { throw NotYet() }
    public static func get(name: String?, json: Bool, environment: String) throws { throw NotYet() }
    public static func logs(name: String, tail: Int?, follow: Bool, environment: String) throws { throw NotYet() }
    public static func delete(name: String, environment: String) throws { throw NotYet() }
    public static func refresh(name: String, environment: String) throws { throw NotYet() }
}
