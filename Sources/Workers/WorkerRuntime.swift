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
    /// `requirements-s3.txt` is added when `s3` (models on S3, synced with boto3).
    public static func requirements(for predictorType: String, s3: Bool = false) -> String {
        var names = ["requirements.txt", "requirements-\(predictorType).txt"]
        if s3 { names.append("requirements-s3.txt") }
        return names.map { (try? String(contentsOfFile: pythonPath + "/" + $0, encoding: .utf8)) ?? "" }
            .joined(separator: "\n")
    }
}
