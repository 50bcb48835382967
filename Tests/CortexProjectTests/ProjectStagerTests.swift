import Foundation
import Testing

@testable import CortexProject

@Suite("ProjectStager")
struct ProjectStagerTests {
    /// Every file below `root`, relative, sorted (what the predictor would see).
    func allFiles(_ root: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let next = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + next, isDirectory: &isDir),
                !isDir.boolValue
            {
                out.append(next)
            }
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    @Test func stagedCopyHasExactlyTheListedFiles() throws {
        let project = try TempDirectory("project")
        let staging = try TempDirectory("staging")
        defer {
            project.remove()
            staging.remove()
        }
        try project.write("cortex.yaml", "- name: api\n")
        try project.write("predictor.py", "class PythonPredictor: pass\n")
        try project.write("run.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        try project.write("readonly.txt", "ro", mode: 0o444)
        try project.write("lib/deep/data.bin", bytes: (0...255).map { UInt8($0) } + [0, 0, 10, 13])
        try project.write("secret.key", "do not ship")
        try project.write(".env", "A=1")
        try project.write(".cortexignore", "*.key\n")
        try project.write("__pycache__/p.pyc", "x")
        try project.write("empty.txt", "")

        let files = try ProjectFiles.list(root: project.path, configFile: project.url("cortex.yaml"))
        #expect(files == ["empty.txt", "lib/deep/data.bin", "predictor.py", "readonly.txt", "run.sh"])
        let destination = staging.url("a/b/stage")  // parents are created
        try ProjectStager.stage(root: project.path, files: files, into: destination)

        #expect(allFiles(destination) == files)
        for file in files {
            #expect(
                FileManager.default.contents(atPath: destination + "/" + file)
                    == project.read(file).map { Data($0) })
        }
        let stagedMode =
            try FileManager.default.attributesOfItem(atPath: destination + "/run.sh")[.posixPermissions]
            as? Int
        #expect(stagedMode == 0o755)
        let readonlyMode =
            try FileManager.default.attributesOfItem(atPath: destination + "/readonly.txt")[
                .posixPermissions] as? Int
        #expect(readonlyMode == 0o444)
        #expect(!FileManager.default.fileExists(atPath: destination + "/secret.key"))
        #expect(!FileManager.default.fileExists(atPath: destination + "/.env"))
        #expect(!FileManager.default.fileExists(atPath: destination + "/cortex.yaml"))
    }

    @Test func restagingReplacesOldContent() throws {
        let project = try TempDirectory("project")
        let staging = try TempDirectory("staging")
        defer {
            project.remove()
            staging.remove()
        }
        try project.write("cortex.yaml", "x")
        try project.write("a.py", "one")
        try project.write("old/b.py", "two")
        let destination = staging.url("stage")
        try ProjectStager.stage(
            root: project.path,
            files: try ProjectFiles.list(root: project.path, configFile: project.url("cortex.yaml")),
            into: destination)
        #expect(allFiles(destination) == ["a.py", "old/b.py"])
        // Junk left in the staging directory by the predictor must not survive either.
        try Data("junk".utf8).write(to: URL(fileURLWithPath: destination + "/junk.txt"))

        try FileManager.default.removeItem(atPath: project.url("old"))
        try FileManager.default.removeItem(atPath: project.url("a.py"))
        try project.write("a.py", "three")
        try project.write("new/c.py", "four")
        let files = try ProjectFiles.list(root: project.path, configFile: project.url("cortex.yaml"))
        try ProjectStager.stage(root: project.path, files: files, into: destination)
        #expect(allFiles(destination) == ["a.py", "new/c.py"])
        #expect(FileManager.default.contents(atPath: destination + "/a.py") == Data("three".utf8))
        #expect(FileManager.default.contents(atPath: destination + "/new/c.py") == Data("four".utf8))
    }

    @Test func symlinkedFilesAreStagedAsTheirContents() throws {
        let project = try TempDirectory("project")
        let outside = try TempDirectory("outside")
        let staging = try TempDirectory("staging")
        defer {
            project.remove()
            outside.remove()
            staging.remove()
        }
        try outside.write("weights.bin", "weights", mode: 0o640)
        try project.write("sub/real.txt", "real")
        try project.symlink("weights.bin", to: outside.url("weights.bin"))
        try project.symlink("sub/rel.txt", to: "real.txt")  // relative link
        let files = try ProjectFiles.list(root: project.path, configFile: project.url("cortex.yaml"))
        #expect(files == ["sub/real.txt", "sub/rel.txt", "weights.bin"])
        let destination = staging.url("stage")
        try ProjectStager.stage(root: project.path, files: files, into: destination)
        #expect(
            FileManager.default.contents(atPath: destination + "/weights.bin") == Data("weights".utf8))
        #expect(FileManager.default.contents(atPath: destination + "/sub/rel.txt") == Data("real".utf8))
        let attributes = try FileManager.default.attributesOfItem(atPath: destination + "/sub/rel.txt")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
        #expect(
            try FileManager.default.attributesOfItem(atPath: destination + "/weights.bin")[
                .posixPermissions] as? Int == 0o640)
    }

    func inode(_ path: String) throws -> UInt64? {
        try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
    }

    func device(_ path: String) throws -> UInt64? {
        (try FileManager.default.attributesOfItem(atPath: path)[.systemNumber] as? NSNumber)?
            .uint64Value
    }

    @Test func sameDeviceUsesHardLinks() throws {
        let project = try TempDirectory("project")
        defer { project.remove() }
        try project.write("a.py", "x", mode: 0o700)
        let staging = project.url(".stage")
        try ProjectStager.stage(root: project.path, files: ["a.py"], into: staging)
        #expect(try inode(staging + "/a.py") == inode(project.url("a.py")))
    }

    @Test func acrossDevicesFilesAreCopied() throws {
        let project = try TempDirectory("project")
        defer { project.remove() }
        let shm = "/dev/shm"
        guard FileManager.default.isWritableFile(atPath: shm),
            let shmDevice = try? device(shm), try device(project.path) != shmDevice
        else { return }  // no second file system to try
        try project.write("run.sh", "#!/bin/sh\n", mode: 0o750)
        try project.write("lib/data.bin", bytes: [1, 2, 3])
        let staging = "\(shm)/cortex-project-tests-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try ProjectStager.stage(root: project.path, files: ["lib/data.bin", "run.sh"], into: staging)
        #expect(allFiles(staging) == ["lib/data.bin", "run.sh"])
        #expect(FileManager.default.contents(atPath: staging + "/lib/data.bin") == Data([1, 2, 3]))
        #expect(
            try FileManager.default.attributesOfItem(atPath: staging + "/run.sh")[.posixPermissions]
                as? Int
                == 0o750)
        #expect(try device(staging + "/run.sh") == shmDevice)
    }

    @Test func copyFallbackPreservesBytesAndPermissions() throws {
        let dir = try TempDirectory("copy")
        defer { dir.remove() }
        var big = [UInt8](repeating: 0, count: (1 << 20) * 2 + 123)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        try dir.write("src.bin", bytes: big, mode: 0o751)
        try ProjectStager.copy(
            source: dir.url("src.bin"), target: dir.url("dst.bin"), permissions: 0o751)
        #expect(dir.read("dst.bin") == big)
        #expect(dir.mode("dst.bin") == 0o751)
    }

    @Test func refusesDangerousDestinationsAndPaths() throws {
        let project = try TempDirectory("project")
        defer { project.remove() }
        try project.write("a.py", "x")
        for destination in [project.path, project.path + "/..", "/"] {
            #expect(throws: ProjectError.self) {
                try ProjectStager.stage(root: project.path, files: ["a.py"], into: destination)
            }
        }
        #expect(project.read("a.py") == Array("x".utf8))
        let staging = project.url(".staging")
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a//b"] {
            #expect(throws: ProjectError("\(bad): not a relative path inside the project")) {
                try ProjectStager.stage(root: project.path, files: [bad], into: staging)
            }
        }
        #expect(throws: ProjectError("\(project.path)/missing.py: file does not exist")) {
            try ProjectStager.stage(root: project.path, files: ["missing.py"], into: staging)
        }
    }

    @Test func stagingInsideTheProjectIsAllowedWhenHidden() throws {
        let project = try TempDirectory("project")
        defer { project.remove() }
        try project.write("a.py", "x")
        let staging = project.url(".cortex/stage")
        try ProjectStager.stage(root: project.path, files: ["a.py"], into: staging)
        #expect(allFiles(staging) == ["a.py"])
        // The hidden staging directory does not show up in the next listing.
        #expect(
            try ProjectFiles.list(root: project.path, configFile: project.url("cortex.yaml")) == ["a.py"])
    }
}
