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

    /// The `model_metadata` of the API's summary: name → versions available, and the latest.
    public var summaryObject: [String: Any] {
        var metadata: [String: Any] = [:]
        for model in models {
            let versions = model.versions.map(\.version)
            metadata[model.name] = ["versions": versions, "latest": versions.last.map { $0 as Any } ?? NSNull()]
        }
        return metadata
    }
}
