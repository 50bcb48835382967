/// Where a request goes: pure routing over method, path and `Host`, tested apart from the server.
public struct RouteTable: Sendable {
    /// What the front does with a request.
    public enum Decision: Sendable, Equatable {
        case predict(api: String)
        case summary(api: String)
        case health
        case readiness
        /// `GET /metrics`: the Prometheus exposition.
        case metrics
        case methodNotAllowed(allow: [String])
        case notFound
    }

    /// endpoint path → API name
    private let endpoints: [String: String]
    private let apiNames: Set<String>
    /// When set, this table serves one API alone (`networking.local_port`): `/` and `/predict`.
    private let dedicatedAPI: String?

    /// The table of the main port: every API at its endpoint, plus `api-<name>` hosts at `/predict`.
    public init(endpoints: [(api: String, endpoint: String)]) {
        var table: [String: String] = [:]
        for (api, endpoint) in endpoints { table[Self.normalise(endpoint)] = api }
        self.endpoints = table
        self.apiNames = Set(endpoints.map(\.api))
        self.dedicatedAPI = nil
    }

    /// The table of an API's own port.
    public init(dedicatedTo api: String) {
        self.endpoints = [:]
        self.apiNames = [api]
        self.dedicatedAPI = api
    }

    public func route(method: String, path: String, host: String?) -> Decision {
        let path = Self.normalise(path)
        if let api = target(path: path, host: host) {
            switch method {
            case "POST": return .predict(api: api)
            case "GET", "HEAD": return .summary(api: api)
            default: return .methodNotAllowed(allow: ["GET", "POST"])
            }
        }
        switch path {
        case "/healthz", "/readyz", "/metrics":
            guard method == "GET" || method == "HEAD" else { return .methodNotAllowed(allow: ["GET"]) }
            return path == "/healthz" ? .health : path == "/readyz" ? .readiness : .metrics
        default:
            return .notFound
        }
    }

    private func target(path: String, host: String?) -> String? {
        if let dedicatedAPI { return path == "/" || path == "/predict" ? dedicatedAPI : nil }
        if let api = Self.apiName(fromHost: host), apiNames.contains(api), path == "/predict" || path == "/" {
            return api
        }
        return endpoints[path]
    }

    /// `api-iris:8888` → `iris`.
    static func apiName(fromHost host: String?) -> String? {
        guard var host = host?.lowercased() else { return nil }
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") { host = String(host[..<colon]) }
        guard host.hasPrefix("api-") else { return nil }
        return String(host.dropFirst(4))
    }

    /// The path without its query, as error messages show it.
    static func pathOnly(_ uri: String) -> String {
        uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
    }

    /// Drops the query and a trailing slash (but keeps "/").
    static func normalise(_ path: String) -> String {
        var path = Substring(path)
        if let question = path.firstIndex(of: "?") { path = path[..<question] }
        if path.isEmpty { return "/" }
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }
}
