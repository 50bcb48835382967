/// One problem found in a config file, located by file, API name, YAML path and line.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config file as given to the loader (e.g. `cortex.yaml`).
    public var file: String
    /// The API's name, when known.
    public var api: String?
    /// YAML path inside the API: dots between keys, `[i]` for list items (e.g. `predictor.models.paths[1].name`);
    /// empty for file-level problems.
    public var path: String
    public var message: String
    /// 1-based line, when known.
    public var line: Int?

    public init(file: String, api: String? = nil, path: String, message: String, line: Int? = nil) {
        self.file = file
        self.api = api
        self.path = path
        self.message = message
        self.line = line
    }

    /// e.g. `cortex.yaml:7: api iris: predictor.threads_per_process: must be ≥ 1, got 0`.
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let api { s += "api \(api): " }
        if !path.isEmpty { s += "\(path): " }
        return s + message
    }
}

/// Every problem found in a config file (never empty when thrown).
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    /// One error per line.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
