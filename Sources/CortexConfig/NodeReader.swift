import Foundation
import Yams

/// Collects errors for one config file; paths are relative to the API being read.
final class Diagnostics {
    let file: String
    var errors: [ConfigError] = []
    /// Name of the API being read (when known), used as `ConfigError.api`.
    var api: String?
    /// Index of the API being read in the top-level list; prefixes paths while the name is unknown.
    var index: Int?

    init(file: String) {
        self.file = file
    }

    func add(_ path: String, line: Int?, _ message: String) {
        var fullPath = path
        if api == nil, let index {
            fullPath =
                path.isEmpty
                ? "[\(index)]" : (path.hasPrefix("[") ? "[\(index)]\(path)" : "[\(index)].\(path)")
        }
        errors.append(ConfigError(file: file, api: api, path: fullPath, message: message, line: line))
    }
}

extension Node {
    var line: Int? { mark?.line }

    /// The resolved tag's name (`Tag.name` itself is internal to Yams).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    var isNull: Bool {
        if case .scalar = self, tagName == .null { return true }
        return false
    }

    var isStringScalar: Bool {
        if case .scalar = self, tagName == .str { return true }
        return false
    }

    /// How a value is shown after "got" in messages: strings quoted, other scalars as written.
    var shown: String {
        switch self {
        case .scalar(let s):
            switch tagName {
            case .str: return JSONValue.string(s.string).jsonText
            case .null: return "null"
            default: return s.string
            }
        case .mapping: return "a map"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Key/value pairs of a mapping with YAML merge keys (`<<: *anchor`) expanded; explicit keys win.
    var mappingEntries: [(key: Node, value: Node)] {
        guard case .mapping(let mapping) = self else { return [] }
        var explicit: [(key: Node, value: Node)] = []
        var merged: [(key: Node, value: Node)] = []
        for (key, value) in mapping {
            if key.tagName == .merge, case .scalar = key {
                switch value {
                case .mapping:
                    merged += value.mappingEntries
                case .sequence(let seq):
                    for item in seq { merged += item.mappingEntries }
                default:
                    explicit.append((key, value))
                }
            } else {
                explicit.append((key, value))
            }
        }
        guard !merged.isEmpty else { return explicit }
        var seen = Set(explicit.compactMap { $0.key.scalar?.string })
        var result = explicit
        for entry in merged {
            guard let name = entry.key.scalar?.string else { continue }
            if seen.insert(name).inserted { result.append(entry) }
        }
        return result
    }
}

func joinPath(_ base: String, _ key: String) -> String {
    base.isEmpty ? key : "\(base).\(key)"
}

/// Formats a bound in a message: integers without a fraction, others as Swift prints them.
func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return "\(value)"
}

/// A YAML mapping read as a struct: typed field accessors that record errors with paths and lines.
struct MapReader {
    let path: String
    let node: Node
    let diag: Diagnostics
    private var entries: [String: (key: Node, value: Node)] = [:]
    private var order: [(name: String, key: Node)] = []

    /// `nil` (with an error recorded) when `node` is not a mapping.
    init?(_ node: Node, path: String, diag: Diagnostics, what: String = "a map") {
        self.path = path
        self.node = node
        self.diag = diag
        guard case .mapping = node else {
            diag.add(path, line: node.line, "must be \(what), got \(node.shown)")
            return nil
        }
        for (key, value) in node.mappingEntries {
            guard case .scalar(let scalar) = key else {
                diag.add(path, line: key.line, "keys must be strings, got \(key.shown)")
                continue
            }
            entries[scalar.string] = (key, value)
            order.append((scalar.string, key))
        }
    }

    var line: Int? { node.line }

    func path(_ key: String) -> String { joinPath(path, key) }

    /// Records `key "x" is not supported` for every key outside `allowed`.
    func rejectUnknownKeys(_ allowed: [String]) {
        for (name, key) in order where !allowed.contains(name) {
            var message = "key \(JSONValue.string(name).jsonText) is not supported"
            if let suggestion = closest(to: name, in: allowed) {
                message += " (did you mean \(JSONValue.string(suggestion).jsonText)?)"
            }
            diag.add(path(name), line: key.line, message)
        }
    }

    /// The value of `key`, or `nil` when absent or explicitly null.
    func value(_ key: String) -> Node? {
        guard let v = entries[key]?.value, !v.isNull else { return nil }
        return v
    }

    /// Whether the key is written at all (even as null).
    func contains(_ key: String) -> Bool { entries[key] != nil }

    /// Line of the key's value, or of this map when the key is absent.
    func line(_ key: String) -> Int? { entries[key]?.value.line ?? node.line }

    func error(_ key: String, _ message: String) {
        diag.add(path(key), line: line(key), message)
    }

    func required(_ key: String) {
        error(key, "is required")
    }

    // MARK: Typed fields

    func string(_ key: String, required isRequired: Bool = false, allowEmpty: Bool = false) -> String? {
        guard let v = value(key) else {
            if isRequired { required(key) }
            return nil
        }
        guard v.isStringScalar, let s = v.scalar?.string else {
            error(key, "must be a string, got \(v.shown)")
            return nil
        }
        if s.isEmpty && !allowEmpty {
            error(key, "must not be empty")
            return nil
        }
        return s
    }

    func oneOf(_ key: String, _ allowed: [String], required isRequired: Bool = false) -> String? {
        guard let v = value(key) else {
            if isRequired { required(key) }
            return nil
        }
        guard let s = v.scalar?.string, v.isStringScalar, allowed.contains(s) else {
            error(key, "must be one of \(allowed.joined(separator: ", ")), got \(v.shown)")
            return nil
        }
        return s
    }

    func int(_ key: String, required isRequired: Bool = false) -> Int? {
        guard let v = value(key) else {
            if isRequired { required(key) }
            return nil
        }
        guard case .scalar = v, v.tagName == .int, let i = v.int else {
            error(key, "must be an integer, got \(v.shown)")
            return nil
        }
        return i
    }

    /// An integer within `[min, max]` (either bound optional).
    func int(_ key: String, required isRequired: Bool = false, min: Int? = nil, max: Int? = nil)
        -> Int?
    {
        guard let i = int(key, required: isRequired) else { return nil }
        if let min, i < min {
            error(key, "must be ≥ \(min), got \(value(key)!.shown)")
            return nil
        }
        if let max, i > max {
            error(key, "must be ≤ \(max), got \(value(key)!.shown)")
            return nil
        }
        return i
    }

    func number(_ key: String) -> Double? {
        guard let v = value(key) else { return nil }
        guard case .scalar = v, v.tagName == .int || v.tagName == .float,
            let d = v.float ?? v.int.map(Double.init), !d.isNaN
        else {
            error(key, "must be a number, got \(v.shown)")
            return nil
        }
        return d
    }

    /// A Go-style duration string (`"60s"`, `"1m30s"`), in seconds; with `allowNumber`, a plain number of
    /// seconds is accepted too.
    func duration(_ key: String, required isRequired: Bool = false, allowNumber: Bool = false)
        -> Double?
    {
        guard let v = value(key) else {
            if isRequired { required(key) }
            return nil
        }
        if allowNumber, case .scalar = v, v.tagName == .int || v.tagName == .float,
            let d = v.float ?? v.int.map(Double.init), d.isFinite
        {
            return d
        }
        guard v.isStringScalar, let s = v.scalar?.string, let d = GoDuration.parse(s) else {
            let example =
                allowNumber
                ? "a number of seconds or a duration like \"30s\" or \"1m30s\""
                : "a duration like \"60s\", \"5m\" or \"1m30s\""
            error(key, "must be \(example), got \(v.shown)")
            return nil
        }
        return d
    }

    /// A Kubernetes quantity written as a string or a number: the text as written and its value.
    func quantity(_ key: String, example: String) -> (text: String, value: Double)? {
        guard let v = value(key) else { return nil }
        guard case .scalar(let s) = v, [.str, .int, .float].contains(v.tagName),
            let q = Quantity.parse(s.string)
        else {
            error(key, "must be a quantity like \(example), got \(v.shown)")
            return nil
        }
        return (s.string, q)
    }

    /// A nested section; `nil` when absent, null or not a map (error recorded).
    func map(_ key: String, allowed: [String]) -> MapReader? {
        guard let v = value(key) else { return nil }
        guard let m = MapReader(v, path: path(key), diag: diag) else { return nil }
        m.rejectUnknownKeys(allowed)
        return m
    }

    /// A list; `nil` when absent or null.
    func list(_ key: String) -> [Node]? {
        guard let v = value(key) else { return nil }
        guard case .sequence(let seq) = v else {
            error(key, "must be a list, got \(v.shown)")
            return nil
        }
        return Array(seq)
    }
}

/// Converts a YAML value to JSON; keys of nested maps become their scalar text.
func jsonValue(_ node: Node, path: String, diag: Diagnostics) -> JSONValue? {
    switch node {
    case .scalar(let s):
        switch node.tagName {
        case .null: return .null
        case .bool: return node.bool.map(JSONValue.bool) ?? .string(s.string)
        case .int:
            if let i = node.int { return .int(i) }
            return node.float.map(JSONValue.double) ?? .string(s.string)
        case .float: return node.float.map(JSONValue.double) ?? .string(s.string)
        default: return .string(s.string)
        }
    case .sequence(let seq):
        var items: [JSONValue] = []
        for (i, item) in seq.enumerated() {
            guard let value = jsonValue(item, path: "\(path)[\(i)]", diag: diag) else { return nil }
            items.append(value)
        }
        return .array(items)
    case .mapping:
        return jsonObject(node, path: path, diag: diag).map(JSONValue.object)
    case .alias:
        diag.add(path, line: node.line, "unresolved alias")
        return nil
    }
}

func jsonObject(_ node: Node, path: String, diag: Diagnostics) -> [String: JSONValue]? {
    var object: [String: JSONValue] = [:]
    var ok = true
    for (key, value) in node.mappingEntries {
        guard case .scalar(let k) = key else {
            diag.add(path, line: key.line, "keys must be strings, got \(key.shown)")
            ok = false
            continue
        }
        guard let v = jsonValue(value, path: joinPath(path, k.string), diag: diag) else {
            ok = false
            continue
        }
        object[k.string] = v
    }
    return ok ? object : nil
}

/// The allowed name closest to `name` when it is a plausible typo (edit distance ≤ 2, or same words).
func closest(to name: String, in allowed: [String]) -> String? {
    let lowered = name.lowercased().replacingOccurrences(of: "-", with: "_")
    var best: (String, Int)?
    for candidate in allowed {
        if candidate == lowered { return candidate }
        let d = editDistance(Array(lowered), Array(candidate))
        if d <= 2, d < (best?.1 ?? Int.max) { best = (candidate, d) }
    }
    if best == nil, name == "path", allowed.contains("model_path") { return "model_path" }
    return best?.0
}

private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = Swift.min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
