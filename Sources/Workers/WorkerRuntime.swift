import Foundation

/// The Python worker runtime (`cortex_worker`) shipped as a resource of this module.
public enum WorkerRuntime {
    /// The directory to put on `PYTHONPATH` so that `python -m cortex_worker` finds the runtime.
    public static var pythonPath: String {
        if let override = ProcessInfo.processInfo.environment["CORTEX_WORKER_RUNTIME"] { return override }
        return Bundle.module.bundleURL.appendingPathComponent("python").path
    }

    /// The runtime's own pinned requirements for a predictor type: `requirements.txt` beside the
    /// package, plus `requirements-<type>.txt` when that type needs more (onnxruntime, tensorflow).
    public static func requirements(for predictorType: String) -> String {
        let base = (try? String(contentsOfFile: pythonPath + "/requirements.txt", encoding: .utf8)) ?? ""
        let extra = (try? String(contentsOfFile: pythonPath + "/requirements-\(predictorType).txt", encoding: .utf8)) ?? ""
        return base + extra
    }
}
