import Foundation
import KubernetesManifests

/// `cortex cluster render`: the Kubernetes objects of every API of a project, one file each plus a
/// `kustomization.yaml`, written to a directory.
public enum ClusterRender {
    /// Renders the project at `path` into `directory`; returns the files written (relative names).
    /// What the cluster cannot do as configured (e.g. `min_replicas: 0` without KEDA) goes to `warn`.
    public static func run(
        path: String?, directory: String, options: ClusterRenderOptions, warn: (String) -> Void = { _ in }
    ) throws -> [String] {
        let project = try PreparedProject.load(path: path)
        for api in project.apis {
            for warning in ManifestRenderer.warnings(api: api, options: options) { warn(warning) }
        }
        var files: [String] = []
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for api in project.apis {
                for manifest in ManifestRenderer.render(api: api, dotEnv: project.dotEnv, options: options) {
                    try write(manifest.object.yaml(), to: directory + "/" + manifest.fileName)
                    files.append(manifest.fileName)
                }
            }
            try write(
                ManifestRenderer.kustomization(files: files, namespace: options.namespace).yaml(),
                to: directory + "/kustomization.yaml")
        } catch {
            throw PreparedProject.Problems(lines: ["cannot write the manifests to \(directory): \(error)"])
        }
        return files + ["kustomization.yaml"]
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
