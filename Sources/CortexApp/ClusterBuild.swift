import CortexProject
import Foundation
import KubernetesManifests
import PythonEnvironment
import Workers

/// `cortex cluster build`: writes a container build context for a project (a Dockerfile and what it
/// copies, laid out as ``ImageLayout`` says) and builds it with `docker` or `podman` when an engine is
/// reachable.
public enum ClusterBuild {
    /// Why no context could be written; `description` names the file or option and what to do.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// What `run` did.
    public struct Outcome: Sendable {
        /// The context directory.
        public var directory: String
        /// Every file and folder written into it (relative names).
        public var written: [String]
        /// The engine that built the image, or nil when none was reachable (the context is left).
        public var builtWith: String?
    }

    /// The default context directory for a project: hidden inside it, so it is never part of the project.
    public static func defaultDirectory(path: String?) -> String {
        let config = URL(fileURLWithPath: PreparedProject.resolveConfigPath(path)).standardizedFileURL.path
        return (config as NSString).deletingLastPathComponent + "/.cortex/build-context"
    }

    /// Writes the context for the project at `path` into `directory` with `binary` (nil: this
    /// executable), then builds `tag` with the first reachable engine. `say` gets progress lines.
    public static func run(
        path: String?, tag: String, directory: String?, binary: String?, say: (String) -> Void
    ) throws -> Outcome {
        let directory = directory ?? defaultDirectory(path: path)
        let written = try writeContext(path: path, directory: directory, binary: binary)
        say("wrote the build context to \(directory) (\(written.joined(separator: ", ")))")
        switch engine() {
        case .reachable(let engine):
            say("building \(tag) with \(engine)")
            let status = try ExternalCommand.inheriting(engine, ["build", "-t", tag, directory])
            guard status == 0 else {
                throw Failure(
                    description:
                        "\(engine) build -t \(tag) \(directory) failed (exit status \(status)); its output is above")
            }
            say(
                "built \(tag); push it (\((engine as NSString).lastPathComponent) push \(tag)) where the cluster can pull it"
            )
            return Outcome(directory: directory, written: written, builtWith: engine)
        case .unavailable(let reason):
            say(
                "not building the image: \(reason). The context is complete: build it where an engine runs with `docker build -t \(tag) \(directory)` (or podman), then push it."
            )
            return Outcome(directory: directory, written: written, builtWith: nil)
        }
    }

    /// Whether a container engine can build here.
    enum Engine: Equatable {
        case reachable(String)
        case unavailable(String)
    }

    /// The first of `docker`, `podman` on `PATH` whose `info` succeeds.
    static func engine() -> Engine {
        var reasons: [String] = []
        for name in ["docker", "podman"] {
            guard let executable = ExternalCommand.find(name) else { continue }
            guard let result = try? ExternalCommand.capture(executable, ["info"]) else {
                reasons.append("\(executable) cannot be run")
                continue
            }
            if result.status == 0 { return .reachable(executable) }
            let line =
                result.stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty } ?? "exit status \(result.status)"
            reasons.append("`\(name) info` failed (\(line))")
        }
        return .unavailable(reasons.isEmpty ? "neither docker nor podman is on PATH" : reasons.joined(separator: "; "))
    }

    /// Writes the context; returns the top-level names written.
    public static func writeContext(path: String?, directory: String, binary: String?) throws -> [String] {
        let project = try PreparedProject.load(path: path)
        if let conda = project.setup.condaPackages, !ProjectSetup.entries(of: conda).isEmpty {
            throw Failure(
                description:
                    "\(project.root)/conda-packages.txt: cluster build installs with pip only; move these packages to requirements.txt (or install them in dependencies.sh)"
            )
        }
        let binary = try staticBinary(binary)
        let runtime = try WorkerRuntime.directory()
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        // A context inside the project must not become part of the project it stages.
        let inside = target.hasPrefix(project.root + "/") ? String(target.dropFirst(project.root.count + 1)) + "/" : nil
        let files = project.files.filter { file in inside.map { !file.hasPrefix($0) } ?? true }
        do {
            try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
            for name in ["Dockerfile", "cortex", "runtime", "build", "project"] {
                try? fm.removeItem(atPath: target + "/" + name)
            }
            try fm.copyItem(atPath: binary, toPath: target + "/cortex")
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target + "/cortex")
            try copyRuntime(from: runtime, to: target + "/runtime")
            try ProjectStager.stage(root: project.root, files: files, into: target + "/project")
            try fm.copyItem(atPath: project.configFile, toPath: target + "/project/cortex.yaml")
            try fm.createDirectory(atPath: target + "/build", withIntermediateDirectories: true)
            try requirements(project).write(
                toFile: target + "/build/requirements.txt", atomically: true, encoding: .utf8)
            if let script = project.setup.dependenciesScript {
                try script.write(toFile: target + "/build/dependencies.sh", atomically: true, encoding: .utf8)
            }
            let dockerfile = Dockerfile(
                dependenciesScript: project.setup.dependenciesScript != nil, source: project.configFile)
            try dockerfile.text.write(toFile: target + "/Dockerfile", atomically: true, encoding: .utf8)
        } catch let error as ProjectError {
            throw Failure(description: "cannot stage the project into \(target)/project: \(error)")
        } catch {
            throw Failure(description: "cannot write the build context to \(target): \(error)")
        }
        return ["Dockerfile", "cortex", "runtime/", "build/", "project/"]
    }

    /// What the image's environment installs: the runtime's own needs for every distinct predictor type
    /// of the project (each line once; an API with `compute.gpu` takes the type's CUDA wheels, e.g.
    /// `onnxruntime-gpu`), then the project's `requirements.txt`, as one environment serves every API of
    /// the image.
    static func requirements(_ project: PreparedProject) -> String {
        var seen = Set<String>()
        var lines = ["# The worker runtime's needs for this project's predictor types (cortex cluster build)."]
        for api in project.apis {
            let text = WorkerRuntime.requirements(
                for: api.predictor.type.rawValue, s3: ModelWatcher.usesS3(api), gpu: api.compute.gpu > 0)
            for line in text.split(separator: "\n").map(String.init) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), seen.insert(trimmed).inserted else { continue }
                lines.append(trimmed)
            }
        }
        lines.append("# The project's requirements.txt.")
        lines.append(project.requirements)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The runtime folder without bytecode caches.
    static func copyRuntime(from source: String, to destination: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
        guard let walker = fm.enumerator(atPath: source) else { return }
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name == "__pycache__" {
                walker.skipDescendants()
                continue
            }
            if name.hasSuffix(".pyc") { continue }
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: source + "/" + relative, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                try fm.createDirectory(atPath: destination + "/" + relative, withIntermediateDirectories: true)
            } else {
                try fm.copyItem(atPath: source + "/" + relative, toPath: destination + "/" + relative)
            }
        }
    }

    /// The binary to put in the image: `given`, or this executable, provided it does not load the Swift
    /// runtime dynamically (the image has no Swift toolchain).
    static func staticBinary(_ given: String?) throws -> String {
        let candidate: String
        if let given {
            candidate = given
        } else if let resolved = realpath("/proc/self/exe", nil) {
            candidate = String(cString: resolved)
            free(resolved)
        } else {
            throw Failure(description: "cannot find this executable's path; pass the binary with --binary PATH")
        }
        guard FileManager.default.isReadableFile(atPath: candidate) else {
            throw Failure(description: "--binary \(candidate): no such file")
        }
        let needed: [String]
        do {
            needed = try ELFFile.neededLibraries(path: candidate)
        } catch {
            throw Failure(description: "\(candidate): \(error); pass a Linux build of cortex with --binary PATH")
        }
        let swift = needed.filter {
            $0.hasPrefix("libswift") || $0.hasPrefix("libFoundation") || $0 == "libdispatch.so"
        }
        guard swift.isEmpty else {
            let first = swift.contains("libswiftCore.so") ? "libswiftCore.so" : swift[0]
            let shown = swift.count == 1 ? first : "\(first) and \(swift.count - 1) more Swift libraries"
            throw Failure(
                description:
                    "\(candidate) loads the Swift runtime dynamically (\(shown)), which the image does not have. Build a static one with `swift build -c release --static-swift-stdlib` and pass it with --binary .build/release/cortex"
            )
        }
        return candidate
    }
}

/// Reads the shared libraries an ELF executable names (`DT_NEEDED`), without running it or `ldd`.
public enum ELFFile {
    /// The file is not a 64-bit little-endian ELF file with section headers.
    public struct Unreadable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The `DT_NEEDED` entries of the ELF file at `path` (empty for a fully static one).
    public static func neededLibraries(path: String) throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Unreadable(description: "cannot open the file")
        }
        defer { try? handle.close() }
        func read(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
            try handle.seek(toOffset: offset)
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else { throw Unreadable(description: "truncated ELF file") }
            return [UInt8](data)
        }
        func integer(_ bytes: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        let header = try read(0, 64)
        guard header[0..<4] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2, header[5] == 1 else {
            throw Unreadable(description: "not a 64-bit little-endian ELF executable (a Linux x86_64/arm64 build)")
        }
        let sectionOffset = integer(header, 0x28, 8)
        let entrySize = Int(integer(header, 0x3A, 2))
        let count = Int(integer(header, 0x3C, 2))
        guard sectionOffset > 0, entrySize >= 64, count > 0 else {
            throw Unreadable(description: "the ELF file has no section headers")
        }
        let table = try read(sectionOffset, entrySize * count)
        func section(_ index: Int) -> (type: UInt64, offset: UInt64, size: UInt64, link: Int) {
            let base = index * entrySize
            return (
                integer(table, base + 4, 4), integer(table, base + 24, 8), integer(table, base + 32, 8),
                Int(integer(table, base + 40, 4))
            )
        }
        var needed: [String] = []
        for index in 0..<count where section(index).type == 6 {  // SHT_DYNAMIC
            let dynamic = section(index)
            guard dynamic.link < count else { continue }
            let strings = section(dynamic.link)
            let entries = try read(dynamic.offset, Int(dynamic.size))
            let names = try read(strings.offset, Int(strings.size))
            for entry in stride(from: 0, to: entries.count - 15, by: 16) {
                let tag = integer(entries, entry, 8)
                if tag == 0 { break }
                guard tag == 1, case let start = Int(integer(entries, entry + 8, 8)), start < names.count else {
                    continue
                }
                let end = names[start...].firstIndex(of: 0) ?? names.count
                needed.append(String(decoding: names[start..<end], as: UTF8.self))
            }
        }
        return needed
    }
}
