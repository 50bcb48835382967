import ChildProcesses
import Foundation

/// `serve --python-env PATH`: a Python environment the user already has (a GPU box's venv with CUDA
/// wheels, say), used as it is — nothing is installed into it. What the worker runtime itself imports is
/// checked first, so a missing module is named before any worker starts.
public enum ExistingEnvironment {
    /// Resolves `path` (a virtualenv directory, or a Python executable) and checks that its interpreter
    /// can import the modules `runtimeRequirements` pins. Throws a message naming what is missing.
    public static func use(
        _ path: String, runtimeRequirements: String
    ) async throws(PythonEnvironmentError) -> PythonEnvironment {
        let environment = try resolve(path)
        let needed = modules(pinnedIn: runtimeRequirements)
        let script = """
            import importlib.util, json, sys
            print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))
            """
        let result: ProcessResult
        do {
            result = try await ProcessRunner.run(environment.python, ["-c", script] + needed.map(\.module))
        } catch {
            throw PythonEnvironmentError(
                message: "--python-env \(path): cannot run \(environment.python): \(error)", output: "")
        }
        guard result.status == 0,
            let line = result.output.split(separator: "\n").last,
            let missing = try? JSONDecoder().decode([String].self, from: Data(line.utf8))
        else {
            throw PythonEnvironmentError(
                message:
                    "--python-env \(path): \(environment.python) did not run a check script (status \(result.status))",
                output: result.output)
        }
        guard missing.isEmpty else {
            let requirements = needed.filter { missing.contains($0.module) }.map(\.requirement)
            throw PythonEnvironmentError(
                message:
                    "--python-env \(path): the worker runtime needs \(missing.joined(separator: ", ")), which \(environment.python) cannot import; install \(requirements.map { "'\($0)'" }.joined(separator: " ")) there, or serve without --python-env to get a managed environment",
                output: "")
        }
        return environment
    }

    static func resolve(_ path: String) throws(PythonEnvironmentError) -> PythonEnvironment {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PythonEnvironmentError(message: "--python-env \(path): no such file or directory", output: "")
        }
        if isDirectory.boolValue {
            let environment = PythonEnvironment(directory: path)
            guard FileManager.default.isExecutableFile(atPath: environment.python) else {
                throw PythonEnvironmentError(
                    message:
                        "--python-env \(path): not a virtualenv (no bin/python); give a virtualenv or a Python executable",
                    output: "")
            }
            return environment
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw PythonEnvironmentError(
                message: "--python-env \(path): not an executable Python interpreter", output: "")
        }
        return PythonEnvironment(python: path)
    }

    /// The modules behind the pinned (`==`) requirements: the runtime's own needs. A distribution's
    /// `-cpu`/`-gpu` variant imports as the same module (`tensorflow-cpu` → `tensorflow`).
    static func modules(pinnedIn requirements: String) -> [(module: String, requirement: String)] {
        var seen = Set<String>()
        return requirements.split(whereSeparator: \.isNewline).compactMap { line in
            let requirement = line.trimmingCharacters(in: .whitespaces)
            guard !requirement.hasPrefix("#"), let pin = requirement.range(of: "==") else { return nil }
            var name = requirement[..<pin.lowerBound].lowercased()
            for suffix in ["-cpu", "-gpu"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            let module = name.replacingOccurrences(of: "-", with: "_")
            guard seen.insert(module).inserted else { return nil }
            return (module, requirement)
        }
    }
}
