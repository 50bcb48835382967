import Foundation

/// The Python worker runtime (`cortex_worker` and its requirements files), found on disk.
///
/// The runtime is the `Workers` target's `python` folder. It is looked for, in order:
/// 1. `$CORTEX_RUNTIME_DIR`, when set (the folder holding `cortex_worker/`; no fallback if it is wrong;
///    `CORTEX_WORKER_RUNTIME`, its former undocumented name, is still read);
/// 2. SwiftPM's resource bundle beside the executable's real path (symlinks resolved):
///    `<bin>/cortex-swift_Workers.resources/python`, as `swift build` lays it out;
/// 3. `<bin>/../share/cortex/python`, as `scripts/install.sh` installs it under a prefix.
///
/// SwiftPM's own `Bundle.module` is not used: it aborts the process when the bundle is missing, and
/// falls back to the build folder's absolute path, so a copied binary would silently use a checkout.
public enum WorkerRuntime {
    /// The folder name of SwiftPM's resource bundle for this target.
    static let bundleName = "cortex-swift_Workers.resources"

    /// The runtime could not be found; `description` is one line naming every place looked at and
    /// how to fix it.
    public struct NotFound: Error, Sendable, Equatable, CustomStringConvertible {
        /// Each place looked at, with why it did not do.
        public var looked: [String]
        public var description: String {
            "cannot find the Python worker runtime (cortex_worker); looked in "
                + looked.joined(separator: ", ")
                + ". Install cortex with scripts/install.sh (binary and runtime together), or set "
                + "CORTEX_RUNTIME_DIR to the folder that holds cortex_worker/ (Sources/Workers/python in a checkout)."
        }
    }

    /// The runtime folder, or why there is none; resolved once per process.
    static let located: Result<String, NotFound> = locate(
        environment: ProcessInfo.processInfo.environment, executable: executablePath())

    /// The runtime folder (to put on `PYTHONPATH`), or the error saying where it was looked for.
    public static func directory() throws(NotFound) -> String { try located.get() }

    /// The directory to put on `PYTHONPATH` so that `python -m cortex_worker` finds the runtime. Call
    /// ``directory()`` first (commands do, before starting anything): without a runtime this is a
    /// path that does not exist.
    public static var pythonPath: String {
        (try? located.get()) ?? "/nonexistent/cortex-runtime"
    }

    /// The search, for an environment and the path the executable was started from.
    static func locate(environment: [String: String], executable: String?) -> Result<String, NotFound> {
        for variable in ["CORTEX_RUNTIME_DIR", "CORTEX_WORKER_RUNTIME"] {
            guard let value = environment[variable], !value.isEmpty else { continue }
            return holdsRuntime(value)
                ? .success(value)
                : .failure(NotFound(looked: ["\(variable)=\(value) (no cortex_worker/ there)"]))
        }
        var looked = ["$CORTEX_RUNTIME_DIR (not set)"]
        guard let executable, let real = realPath(executable) else {
            looked.append("the executable's folder (its path is unknown)")
            return .failure(NotFound(looked: looked))
        }
        let bin = (real as NSString).deletingLastPathComponent
        let candidates = [
            "\(bin)/\(bundleName)/python",
            ((bin as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/cortex/python"),
        ]
        for candidate in candidates {
            if holdsRuntime(candidate) { return .success(candidate) }
            looked.append(candidate)
        }
        return .failure(NotFound(looked: looked))
    }

    /// Whether `folder` holds the runtime package.
    static func holdsRuntime(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: folder + "/cortex_worker/__main__.py")
    }

    /// The running executable's path: `/proc/self/exe` on Linux, Foundation's answer elsewhere.
    static func executablePath() -> String? {
        if FileManager.default.fileExists(atPath: "/proc/self/exe") { return "/proc/self/exe" }
        return Bundle.main.executablePath
    }

    /// `path` with every symlink resolved, or `nil` when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The runtime's own pinned requirements for a predictor type: `requirements.txt` beside the
    /// package, plus `requirements-<type>.txt` when that type needs more (onnxruntime, tensorflow).
    /// `requirements-s3.txt` is added when `s3` (models on S3, synced with boto3).
    public static func requirements(for predictorType: String, s3: Bool = false, gpu: Bool = false) -> String {
        var names = ["requirements.txt", "requirements-\(predictorType).txt"]
        // The CUDA variant of a type's wheels, where the type has one (ONNX, TensorFlow).
        if gpu, FileManager.default.fileExists(atPath: pythonPath + "/requirements-\(predictorType)-gpu.txt") {
            names[1] = "requirements-\(predictorType)-gpu.txt"
        }
        if s3 { names.append("requirements-s3.txt") }
        return names.map { (try? String(contentsOfFile: pythonPath + "/" + $0, encoding: .utf8)) ?? "" }
            .joined(separator: "\n")
    }
}
