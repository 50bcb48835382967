/// The operating commands against the local operator (TEMPORARY SEAM, being built).
public enum OperatorCLI {
    struct NotYet: Error, CustomStringConvertible { var description: String { "not available yet" } }
    public static func deploy(path: String?, wait: Bool) async throws { throw NotYet() }
    public static func get(name: String?, json: Bool) async throws { throw NotYet() }
    public static func logs(name: String, tail: Int?, follow: Bool) async throws { throw NotYet() }
    public static func delete(name: String) async throws { throw NotYet() }
    public static func refresh(name: String) async throws { throw NotYet() }
}
