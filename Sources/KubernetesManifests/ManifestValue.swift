import Yams

/// A Kubernetes object (or any part of one) as an ordered tree, so rendered YAML keeps the field order
/// people expect (`apiVersion`, `kind`, `metadata`, `spec`) and golden files stay stable.
public indirect enum ManifestValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([ManifestValue])
    case map([(String, ManifestValue)])

    public static func == (lhs: ManifestValue, rhs: ManifestValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.list(let a), .list(let b)): a == b
        case (.map(let a), .map(let b)): a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: false
        }
    }

    /// The value under `key` of a map (nil otherwise).
    public subscript(key: String) -> ManifestValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    var node: Node {
        switch self {
        case .string(let text):
            // Quoted when YAML would read it as something else (a number, a boolean, null…).
            let plain = Node(text)
            let looksTyped = Resolver.default.resolveTag(of: plain) != .str || text.isEmpty
            return Node(text, Tag(.str), looksTyped ? .doubleQuoted : .any)
        case .int(let number): return Node(String(number), Tag(.int))
        case .bool(let flag): return Node(flag ? "true" : "false", Tag(.bool))
        case .list(let items): return Node(items.map(\.node))
        case .map(let pairs): return Node(pairs.map { (Node($0.0), $0.1.node) })
        }
    }

    /// The value as one YAML document.
    public func yaml() throws -> String {
        try Yams.serialize(node: node, indent: 2, width: -1, sortKeys: false)
    }
}
