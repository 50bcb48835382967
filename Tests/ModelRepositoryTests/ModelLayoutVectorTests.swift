import Foundation
import Testing

@testable import ModelRepository

/// One case of `Tests/vectors/model_layouts.json`, the layout rules shared with the runtime's S3 listing
/// (`s3sync.list_versions` / `list_models`, checked by `Tests/python/test_layout_vectors.py`).
struct LayoutVector: Decodable, Sendable, CustomTestStringConvertible {
    struct Model: Decodable, Sendable, Equatable {
        var name: String
        var versions: [String]
    }
    var name: String
    var type: String
    var dir: Bool?
    var files: [String]
    var versions: [String]?
    var models: [Model]?
    var error: String?

    var testDescription: String { name }

    /// The vectors file, found from this source file (it is shared with the Python tests, outside any target).
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("vectors/model_layouts.json")

    static func load() throws -> [LayoutVector] {
        struct File: Decodable { var cases: [LayoutVector] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    static let all: [LayoutVector] = (try? load()) ?? []
}

@Suite struct ModelLayoutVectorTests {
    @Test func theVectorsLoad() throws {
        let cases = try LayoutVector.load()
        #expect(cases.count >= 40)
        #expect(Set(cases.map(\.name)).count == cases.count)
    }

    @Test(arguments: LayoutVector.all)
    func layoutVector(_ vector: LayoutVector) throws {
        let format = try #require(ModelFormat(rawValue: vector.type))
        let root = try makeTree(vector.files)
        defer { try? FileManager.default.removeItem(atPath: root) }
        do throws(ModelLayoutError) {
            if vector.dir == true {
                let models = try ModelLayout.models(inDirectory: root, format: format)
                #expect(vector.error == nil, "expected \(vector.error ?? "")")
                #expect(
                    models.map { LayoutVector.Model(name: $0.name, versions: $0.versions.map(\.version)) }
                        == vector.models)
            } else {
                let versions = try ModelLayout.versions(of: root, format: format)
                #expect(vector.error == nil, "expected \(vector.error ?? "")")
                #expect(versions.map(\.version) == vector.versions)
            }
        } catch {
            #expect(error.message == vector.error?.replacingOccurrences(of: "{root}", with: root))
        }
    }
}
