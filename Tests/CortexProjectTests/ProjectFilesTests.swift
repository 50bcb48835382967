import Foundation
import Testing

@testable import CortexProject

@Suite("ProjectFiles")
struct ProjectFilesTests {
    /// A typical project with everything the fixed rules must drop.
    func makeProject() throws -> TempDirectory {
        let dir = try TempDirectory("project")
        try dir.write("cortex.yaml", "- name: api\n")
        try dir.write("predictor.py", "class PythonPredictor: pass\n")
        try dir.write("requirements.txt", "numpy\n")
        try dir.write("values.json", "{}")
        try dir.write("lib/util.py", "x = 1\n")
        try dir.write("lib/deep/er/data.bin", bytes: [0, 1, 2, 255])
        try dir.write("lib/__pycache__/util.cpython-38.pyc", "bytecode")
        try dir.write("__pycache__/predictor.cpython-38.pyc", "bytecode")
        try dir.write("stale.pyc", "x")
        try dir.write("stale.pyo", "x")
        try dir.write("native.pyd", "x")
        try dir.write("lib/also.pyc", "x")
        try dir.write(".env", "A=1\n")
        try dir.write(".hidden", "x")
        try dir.write(".git/config", "x")
        try dir.write("lib/.secret/key", "x")
        try dir.write("lib/.dotfile", "x")
        try dir.write("cortex-debug-api.tgz", "x")
        try dir.write("cortex-debug-dir/log.txt", "x")
        return dir
    }

    @Test func fixedExclusions() throws {
        let dir = try makeProject()
        defer { dir.remove() }
        let files = try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml"))
        #expect(
            files == [
                "lib/deep/er/data.bin", "lib/util.py", "predictor.py", "requirements.txt", "values.json",
            ])
    }

    @Test func includeEnvFileAddsDotEnvBack() throws {
        let dir = try makeProject()
        defer { dir.remove() }
        let files = try ProjectFiles.list(
            root: dir.path, configFile: dir.url("cortex.yaml"), includeEnvFile: true)
        #expect(files.first == ".env")
        #expect(files.count == 6)
        try FileManager.default.removeItem(atPath: dir.url(".env"))
        let without = try ProjectFiles.list(
            root: dir.path, configFile: dir.url("cortex.yaml"), includeEnvFile: true)
        #expect(!without.contains(".env"))
    }

    @Test func configFileExcludedByResolvedPathOnly() throws {
        let dir = try TempDirectory("project")
        defer { dir.remove() }
        try dir.write("api.yaml", "x")
        try dir.write("cortex.yaml", "y")  // not the config here: kept
        try dir.write("sub/api.yaml", "z")  // same name elsewhere: kept
        // Config given through a non-canonical path.
        let files = try ProjectFiles.list(root: dir.path, configFile: dir.path + "/sub/../api.yaml")
        #expect(files == ["cortex.yaml", "sub/api.yaml"])
    }

    @Test func configFileGivenRelativeToCurrentDirectory() throws {
        let dir = try TempDirectory("project")
        defer { dir.remove() }
        try dir.write("cortex.yaml", "x")
        try dir.write("predictor.py", "y")
        // A relative path to the config (from the current directory, which tests must not change).
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .resolvingSymlinksInPath().path
        let depth = cwd.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + dir.path.dropFirst() + "/cortex.yaml"
        #expect(try ProjectFiles.list(root: dir.path, configFile: relative) == ["predictor.py"])
    }

    @Test func cortexignorePatterns() throws {
        let dir = try makeProject()
        defer { dir.remove() }
        try dir.write(
            ".cortexignore",
            """
            # big artefacts
            *.bin
            values.json
            /requirements.txt
            lib/nested/requirements.txt
            docs/
            !docs/keep.md
            out/*
            !out/keep.txt
            models/**/*.ckpt

            """)
        try dir.write("sub/requirements.txt", "kept: /requirements.txt is anchored")
        try dir.write("sub/values.json", "dropped: values.json matches at any depth")
        try dir.write("docs/keep.md", "dropped: docs/ is excluded, cannot re-include")
        try dir.write("docs/a/b.md", "dropped")
        try dir.write("out/keep.txt", "kept")
        try dir.write("out/drop.txt", "dropped")
        try dir.write("models/a/b/m.ckpt", "dropped")
        try dir.write("models/m.ckpt", "dropped (zero directories)")
        try dir.write("models/a/config.json", "kept")
        let files = try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml"))
        #expect(
            files == [
                "lib/util.py", "models/a/config.json", "out/keep.txt", "predictor.py",
                "sub/requirements.txt",
            ])
    }

    @Test func cortexignoreCanExcludeEverything() throws {
        let dir = try makeProject()
        defer { dir.remove() }
        try dir.write(".cortexignore", "*\n")
        #expect(try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml")).isEmpty)
    }

    @Test func resultIsSortedByBytes() throws {
        let dir = try TempDirectory("project")
        defer { dir.remove() }
        for name in ["b", "B", "a/z", "a-b", "a.b", "_x", "é", "Z"] { try dir.write(name, name) }
        let files = try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml"))
        #expect(files == ["B", "Z", "_x", "a-b", "a.b", "a/z", "b", "é"])
    }

    @Test func symlinks() throws {
        let dir = try TempDirectory("project")
        let outside = try TempDirectory("outside")
        defer {
            dir.remove()
            outside.remove()
        }
        try dir.write("cortex.yaml", "x")
        try dir.write("real/data.txt", "data")
        try outside.write("weights.bin", "w")
        try outside.write("tree/file.txt", "t")
        try dir.symlink("link.txt", to: "real/data.txt")  // symlinked file: included
        // A symlinked file pointing outside the tree: included.
        try dir.symlink("weights.bin", to: outside.url("weights.bin"))
        // A symlinked directory out of the tree: not followed.
        try dir.symlink("outside-tree", to: outside.url("tree"))
        try dir.symlink("alias", to: "real")  // directory inside the tree: followed
        try dir.symlink("loop", to: ".")  // loop: not followed
        try dir.symlink("dangling", to: "nowhere")  // dangling: skipped
        try dir.symlink("config-link.yaml", to: "cortex.yaml")  // resolves to the config: excluded
        let files = try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml"))
        #expect(files == ["alias/data.txt", "link.txt", "real/data.txt", "weights.bin"])
    }

    @Test func refusesRootAndHome() throws {
        #expect(throws: ProjectError.self) {
            try ProjectFiles.list(root: "/", configFile: "/cortex.yaml")
        }
        do {
            _ = try ProjectFiles.list(root: "/", configFile: "/cortex.yaml")
        } catch {
            #expect(error.message.contains("root directory"))
        }
        if let home = ProcessInfo.processInfo.environment["HOME"],
            FileManager.default.fileExists(atPath: home)
        {
            do {
                _ = try ProjectFiles.list(root: home, configFile: home + "/cortex.yaml")
                Issue.record("listing the home directory should fail")
            } catch {
                #expect(error.message.contains("home directory"))
            }
        }
    }

    @Test func missingOrNonDirectoryRoot() throws {
        let dir = try TempDirectory("project")
        defer { dir.remove() }
        try dir.write("file", "x")
        #expect(throws: ProjectError("\(dir.url("nope")): project directory does not exist")) {
            try ProjectFiles.list(root: dir.url("nope"), configFile: "cortex.yaml")
        }
        #expect(throws: ProjectError("\(dir.url("file")): project directory is not a directory")) {
            try ProjectFiles.list(root: dir.url("file"), configFile: "cortex.yaml")
        }
    }

    @Test func contentHashTracksNamesBytesAndExecBits() throws {
        let dir = try TempDirectory("project")
        defer { dir.remove() }
        try dir.write("cortex.yaml", "x")
        try dir.write("a.py", "print(1)\n")
        try dir.write("run.sh", "#!/bin/sh\n", mode: 0o644)
        func hash() throws -> String {
            let files = try ProjectFiles.list(root: dir.path, configFile: dir.url("cortex.yaml"))
            return try ProjectFiles.contentHash(root: dir.path, files: files)
        }
        let h0 = try hash()
        #expect(h0.count == 64)
        #expect(try hash() == h0)
        try dir.write("cortex.yaml", "changed config does not count")
        try dir.write(".hidden", "neither do hidden files")
        #expect(try hash() == h0)
        try dir.write("a.py", "print(2)\n")
        let h1 = try hash()
        #expect(h1 != h0)
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o755], ofItemAtPath: dir.url("run.sh"))
        let h2 = try hash()
        #expect(h2 != h1)
        try FileManager.default.moveItem(atPath: dir.url("a.py"), toPath: dir.url("b.py"))
        #expect(try hash() != h2)
        // Moving bytes between files changes the hash even when the concatenation is equal.
        try dir.write("b.py", "ab")
        try dir.write("run.sh", "", mode: 0o755)
        let split1 = try hash()
        try dir.write("b.py", "a")
        try dir.write("run.sh", "b", mode: 0o755)
        #expect(try hash() != split1)
    }

    @Test func alwaysExcludedNames() {
        #expect(ProjectFiles.isAlwaysExcluded(name: ".env", isDirectory: false))
        #expect(ProjectFiles.isAlwaysExcluded(name: ".venv", isDirectory: true))
        #expect(ProjectFiles.isAlwaysExcluded(name: "__pycache__", isDirectory: true))
        #expect(!ProjectFiles.isAlwaysExcluded(name: "__pycache__", isDirectory: false))
        #expect(ProjectFiles.isAlwaysExcluded(name: "x.pyc", isDirectory: false))
        #expect(!ProjectFiles.isAlwaysExcluded(name: "x.py", isDirectory: false))
        #expect(ProjectFiles.isAlwaysExcluded(name: "cortex-debug-x", isDirectory: true))
        #expect(!ProjectFiles.isAlwaysExcluded(name: "my.cortex-debug-x", isDirectory: false))
    }
}
