import CortexConfig
import Testing

/// Indents every line but the first of `text` by `spaces`.
func indent(_ text: String, _ spaces: Int) -> String {
    let pad = String(repeating: " ", count: spaces)
    return text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.isEmpty ? "" : pad + $0 }
        .joined(separator: "\n")
}

/// One API named `iris` with the given predictor type, extra predictor lines and extra API-level lines.
func api(
    name: String = "iris", type: String = "python", predictor: String = "", _ rest: String = ""
) -> String {
    var text = """
        - name: \(name)
          kind: RealtimeAPI
          predictor:
            type: \(type)
            path: predictor.py

        """
    if !predictor.isEmpty { text += indent(predictor, 4) + "\n" }
    if !rest.isEmpty { text += indent(rest, 2) + "\n" }
    return text
}

/// Parses `yaml`, expecting success.
func specs(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [APISpec] {
    do {
        return try ConfigLoader.parse(yaml: yaml, file: "cortex.yaml")
    } catch {
        Issue.record("unexpected errors:\n\(error)\n--- yaml:\n\(yaml)", sourceLocation: sourceLocation)
        throw error
    }
}

/// Parses `yaml`, expecting failure; returns the errors.
func errors(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigError] {
    do {
        let result = try ConfigLoader.parse(yaml: yaml, file: "cortex.yaml")
        Issue.record(
            "expected errors, got \(result.count) API(s)\n--- yaml:\n\(yaml)",
            sourceLocation: sourceLocation)
        return []
    } catch {
        return error.errors
    }
}

/// `path: message` of each error, for compact comparisons.
func summaries(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    errors(yaml, sourceLocation: sourceLocation).map { "\($0.path): \($0.message)" }
}

/// A YAML input and the errors (`path: message`) it must produce, exactly.
struct Case: Sendable, CustomTestStringConvertible {
    var yaml: String
    var expected: [String]
    var testDescription: String { expected.joined(separator: " | ") }

    init(_ yaml: String, _ expected: String...) {
        self.yaml = yaml
        self.expected = expected
    }
}
