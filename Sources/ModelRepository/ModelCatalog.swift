import Foundation

/// What a model folder must hold, by predictor type.
public enum ModelFormat: String, Sendable {
    case python, onnx, tensorflow
}

/// One version of a model available on local disk.
public struct ModelVersion: Sendable, Equatable, Codable {
    /// An integer, as a string ("1", "2", …).
    public var version: String
    /// The local directory holding it.
    public var path: String
    /// Changes whenever the content changes (newest modification time and total size).
    public var stamp: String
    /// For a version fetched on demand: the `s3://` prefix the worker downloads into `path`.
    public var source: String?

    public init(version: String, path: String, stamp: String, source: String? = nil) {
        self.version = version
        self.path = path
        self.stamp = stamp
        self.source = source
    }
}

/// One model and its versions, ascending.
public struct ModelEntry: Sendable, Equatable, Codable {
    public var name: String
    public var versions: [ModelVersion]

    public init(name: String, versions: [ModelVersion]) {
        self.name = name
        self.versions = versions
    }
}

/// Every model of an API and its versions: what the `MODELS` frame carries (`docs/PROTOCOL.md`).
public struct ModelCatalog: Sendable, Equatable, Codable {
    public var models: [ModelEntry]

    public init(models: [ModelEntry]) {
        self.models = models
    }

    /// The `MODELS` frame's JSON.
    public var frameJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{\"models\": []}".utf8), as: UTF8.self)
    }

    /// The `model_metadata` of the API's summary, as JSON in the summary's style (`", "`, `": "`):
    /// name → the versions available and the latest.
    public var summaryJSON: String {
        func quoted(_ text: String) -> String {
            let data =
                (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]))
                ?? Data("[\"\"]".utf8)
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        }
        let entries = models.map { model -> String in
            let versions = model.versions.map { quoted($0.version) }.joined(separator: ", ")
            let latest = model.versions.last.map { quoted($0.version) } ?? "null"
            return "\(quoted(model.name)): {\"versions\": [\(versions)], \"latest\": \(latest)}"
        }
        return "{" + entries.joined(separator: ", ") + "}"
    }
}
