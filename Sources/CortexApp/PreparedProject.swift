import CortexConfig
import CortexProject
import Foundation
import Logging
import PythonEnvironment

/// A config file and its project directory, validated against each other: what `cortex validate`
/// checks and what `cortex serve` starts from.
public struct PreparedProject: Sendable {
    public var configFile: String
    public var root: String
    public var apis: [APISpec]
    /// Files the predictors may see, relative to `root`.
    public var files: [String]
    /// The `.env` variables, in file order.
    public var dotEnv: [(name: String, value: String)]

    /// Why a project cannot be served; one line per problem, each naming the file, API and field.
    public struct Problems: Error, CustomStringConvertible {
        public var lines: [String]
        public var description: String { lines.joined(separator: "\n") }
    }

    /// `path` is a project directory or a config file; a directory means `<dir>/cortex.yaml`.
    public static func resolveConfigPath(_ path: String?) -> String {
        let path = path ?? "cortex.yaml"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path as NSString).appendingPathComponent("cortex.yaml")
        }
        return path
    }

    public static func load(path: String?) throws(Problems) -> PreparedProject {
        let configFile = URL(fileURLWithPath: resolveConfigPath(path)).standardizedFileURL.path
        let root = (configFile as NSString).deletingLastPathComponent
        let apis: [APISpec]
        do {
            apis = try ConfigLoader.load(path: configFile)
        } catch {
            throw Problems(lines: error.errors.map(\.description))
        }
        let files: [String]
        let dotEnv: [(name: String, value: String)]
        do {
            files = try ProjectFiles.list(root: root, configFile: configFile)
            let envPath = root + "/" + ProjectFiles.envFileName
            dotEnv = FileManager.default.fileExists(atPath: envPath) ? try EnvFile.load(path: envPath) : []
        } catch {
            throw Problems(lines: [error.description])
        }
        var problems: [String] = []
        let fileSet = Set(files)
        let display = (configFile as NSString).lastPathComponent
        for api in apis {
            let predictorPath = normalise(api.predictor.path)
            if !fileSet.contains(predictorPath) {
                let exists = FileManager.default.fileExists(atPath: root + "/" + predictorPath)
                problems.append(
                    "\(display): api \(api.name): predictor.path: "
                        + (exists
                            ? "\(api.predictor.path) is excluded from the project (hidden, ignored by .cortexignore, or a bytecode file)"
                            : "file \(api.predictor.path) does not exist in \(root)"))
            } else if let problem = Self.classProblem(file: root + "/" + predictorPath, api: api) {
                problems.append("\(display): api \(api.name): predictor.path: \(problem)")
            }
            if let watcher = ModelWatcher(
                api: api, projectRoot: root, cacheRoot: "", python: "", logger: Logger(label: "validate"))
            {
                problems += watcher.localLayoutProblems().map { "\(display): \($0)" }
            }
            if let pythonPath = api.predictor.pythonPath, !files.contains(where: { $0.hasPrefix(pythonPath) }) {
                problems.append(
                    "\(display): api \(api.name): predictor.python_path: \(pythonPath) contains no project file")
            }
        }
        if !problems.isEmpty { throw Problems(lines: problems) }
        return PreparedProject(configFile: configFile, root: root, apis: apis, files: files, dotEnv: dotEnv)
    }

    /// Whether the predictor file defines (or imports) the class its type needs: a quick look at the
    /// source, so `validate` catches a mismatch without running any Python (`serve` checks for real).
    static func classProblem(file: String, api: APISpec) -> String? {
        guard let source = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let expected = api.predictor.type.className
        func defines(_ name: String) -> Bool {
            source.split(separator: "\n").contains { raw in
                let line = raw.trimmingCharacters(in: .whitespaces)
                let words = line.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
                if line.hasPrefix("class "), words.dropFirst().first == name { return true }
                if line.hasPrefix("from "), line.contains(" import "), words.contains(name) { return true }
                if line.hasPrefix(name), line.dropFirst(name.count).trimmingCharacters(in: .whitespaces).hasPrefix("=")
                {
                    return true
                }
                return false
            }
        }
        // A star import or a dynamic definition cannot be judged from the text: leave it to `serve`.
        let opaque = source.contains("import *") || source.contains("globals()") || source.contains("exec(")
        guard !defines(expected), !opaque else { return nil }
        let others = PredictorType.allCases.map(\.className).filter { $0 != expected && defines($0) }
        let hint = others.isEmpty ? "" : " (it defines \(others.joined(separator: ", ")); is predictor.type right?)"
        return
            "\(api.predictor.path) does not define class \(expected), which predictor.type \(api.predictor.type.rawValue) needs\(hint)"
    }

    static func normalise(_ path: String) -> String {
        var path = Substring(path)
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        return String(path)
    }

    /// What the config asks for that is accepted but not acted on, one line each (none at present).
    public var warnings: [String] { [] }

    /// The project's `requirements.txt`, if it has one.
    public var requirements: String {
        (try? String(contentsOfFile: root + "/requirements.txt", encoding: .utf8)) ?? ""
    }

    /// The project's `dependencies.sh` and `conda-packages.txt`, if it has them (Cortex's other setup files).
    public var setup: ProjectSetup {
        ProjectSetup(
            dependenciesScript: try? String(contentsOfFile: root + "/dependencies.sh", encoding: .utf8),
            condaPackages: try? String(contentsOfFile: root + "/conda-packages.txt", encoding: .utf8))
    }

    /// Copies the visible files to a fresh directory that the workers use as their project directory.
    /// Prefers a hidden folder inside the project (same file system, so hard links work).
    public func stage() throws(ProjectError) -> String {
        let pid = ProcessInfo.processInfo.processIdentifier
        let inProject = root + "/.cortex/serve-\(pid)"
        Self.removeStaleStagings(in: root + "/.cortex")
        do {
            try ProjectStager.stage(root: root, files: files, into: inProject)
            return inProject
        } catch {
            let fallback = NSTemporaryDirectory() + "cortex-serve-\(pid)"
            try ProjectStager.stage(root: root, files: files, into: fallback)
            return fallback
        }
    }

    /// Removes staging folders left by `serve` processes that no longer run.
    static func removeStaleStagings(in directory: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix("serve-") {
            guard let pid = Int32(entry.dropFirst("serve-".count)), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + entry)
        }
    }
}

extension PreparedProject {
    /// The APIs with every default filled in, as `cortex validate` prints them.
    public func resolvedSpecsJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(apis), as: UTF8.self)
    }
}
