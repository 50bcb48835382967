import Foundation
import Testing

@testable import ModelRepository

/// A temporary folder tree (the root always exists): each path is a file, or with a trailing `/` an empty folder.
func makeTree(_ files: [String]) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    for file in files {
        let path = root + "/" + file
        if file.hasSuffix("/") {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } else {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        }
    }
    return root
}

@Suite struct ModelLayoutTests {
    @Test func anUnversionedFolderIsVersionOne() throws {
        let root = try makeTree(["model.onnx"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = try ModelLayout.versions(of: root, format: .onnx)
        #expect(versions.map(\.version) == ["1"])
        #expect(versions[0].path == root)
    }

    @Test func integerFoldersAreVersionsInNumericOrderAndEmptyOnesAreSkipped() throws {
        let root = try makeTree(["10/m.onnx", "2/m.onnx", "1/m.onnx", "3/"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try ModelLayout.versions(of: root, format: .onnx).map(\.version) == ["1", "2", "10"])
    }

    @Test func aStrayEntryInAVersionedFolderIsAnErrorNamingIt() throws {
        let root = try makeTree(["1/m.onnx", "latest/m.onnx"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(
            throws: ModelLayoutError(
                "\(root)/latest: a versioned model folder may only hold integer-named version folders")
        ) {
            try ModelLayout.versions(of: root, format: .onnx)
        }
    }

    @Test func twoFoldersOfTheSameVersionAreAnError() throws {
        let root = try makeTree(["1/m.onnx", "01/m.onnx"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: ModelLayoutError.self) { try ModelLayout.versions(of: root, format: .onnx) }
        #expect(ModelLayout.isVersionName("12") && !ModelLayout.isVersionName("-1") && !ModelLayout.isVersionName("+5"))
    }

    @Test(arguments: [
        (["a.onnx", "b.onnx"], ModelFormat.onnx, false),
        (["a.onnx", "notes.txt"], .onnx, false),
        (["a.onnx"], .onnx, true),
        (
            ["saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"], .tensorflow,
            true
        ),
        (["saved_model.pb", "variables/variables.index"], .tensorflow, false),
        (["model.pkl"], .python, true),
        (["sub/"], .python, true),
    ])
    func layoutsByType(files: [String], format: ModelFormat, valid: Bool) throws {
        let root = try makeTree(files)
        defer { try? FileManager.default.removeItem(atPath: root) }
        if valid {
            #expect(try ModelLayout.versions(of: root, format: format).count == 1)
        } else {
            #expect(throws: ModelLayoutError.self) { try ModelLayout.versions(of: root, format: format) }
        }
    }

    @Test func anEmptyPythonModelOrAMissingFolderIsAnError() throws {
        let root = try makeTree(["empty/"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: ModelLayoutError.self) { try ModelLayout.versions(of: root + "/empty", format: .python) }
        #expect(throws: ModelLayoutError("\(root)/missing: is not a directory")) {
            try ModelLayout.versions(of: root + "/missing", format: .python)
        }
    }

    @Test func aModelsDirMakesEachChildAModel() throws {
        let root = try makeTree(["iris/1/m.onnx", "iris/2/m.onnx", "mpg/m.onnx", "README.md"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let models = try ModelLayout.models(inDirectory: root, format: .onnx)
        #expect(models.map(\.name) == ["iris", "mpg"])
        #expect(models.map { $0.versions.map(\.version) } == [["1", "2"], ["1"]])
    }

    @Test func theStampChangesWithContent() throws {
        let root = try makeTree(["1/m.pkl"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = try ModelLayout.versions(of: root, format: .python)[0].stamp
        try Data("longer content".utf8).write(to: URL(fileURLWithPath: root + "/1/m.pkl"))
        let after = try ModelLayout.versions(of: root, format: .python)[0].stamp
        #expect(before != after)
    }

    @Test func theCatalogEncodesTheModelsFrame() throws {
        let catalog = ModelCatalog(models: [
            ModelEntry(name: "iris", versions: [ModelVersion(version: "1", path: "/m/iris/1", stamp: "1-1")])
        ])
        #expect(
            catalog.frameJSON
                == #"{"models":[{"name":"iris","versions":[{"path":"/m/iris/1","stamp":"1-1","version":"1"}]}]}"#)
        #expect(catalog.summaryJSON == #"{"iris": {"versions": ["1"], "latest": "1"}}"#)
        let empty = ModelCatalog(models: [ModelEntry(name: "gone", versions: [])])
        #expect(empty.summaryJSON == #"{"gone": {"versions": [], "latest": null}}"#)
    }
}
