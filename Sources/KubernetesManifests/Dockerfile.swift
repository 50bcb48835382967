/// The Dockerfile of the image `cortex cluster build` writes (pure): Debian bookworm slim with Debian's
/// Python 3.11, the API's Python environment installed at build time in ``ImageLayout/pythonEnvironment``,
/// the worker runtime, the static `cortex` binary and the staged project, laid out as ``ImageLayout``
/// says, so that the rendered Deployment's `args` (after the entrypoint) serve with nothing to install.
///
/// The build context it expects (written by `ClusterBuild`):
/// - `cortex`: the binary, linked with `--static-swift-stdlib`;
/// - `runtime/`: the worker runtime (`cortex_worker/` and its requirements files);
/// - `build/requirements.txt`: the runtime's needs for the project's predictor types, then the
///   project's `requirements.txt`;
/// - `build/dependencies.sh`: the project's, when it has one (run in the project directory, before the
///   requirements, with the environment first on `PATH`, as locally);
/// - `project/`: the staged project (`.cortexignore` applied, hidden files left out) and its config as
///   `cortex.yaml`.
///
/// Only `FROM`, `RUN` (one line each), `ENV`, `COPY`, `WORKDIR`, `EXPOSE`, `ENTRYPOINT` and `CMD` are
/// used, so `scripts/verify-image.sh` can replay it without a container engine.
public struct Dockerfile: Sendable, Equatable {
    /// Whether the project has a `dependencies.sh` (then the project is copied before the install).
    public var dependenciesScript: Bool
    /// Where the project came from, for the header comment.
    public var source: String

    public init(dependenciesScript: Bool, source: String) {
        self.dependenciesScript = dependenciesScript
        self.source = source
    }

    /// The Dockerfile's lines.
    public var lines: [String] {
        let env = ImageLayout.pythonEnvironment
        let copyProject = "COPY project/ \(ImageLayout.project)/"
        var lines = [
            "# Written by `cortex cluster build` for \(source). Build it with: docker build -t IMAGE .",
            "FROM \(ImageLayout.base)",
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates libstdc++6 && rm -rf /var/lib/apt/lists/*",
            "ENV PYTHONUNBUFFERED=1",
            "RUN python3 -m venv \(env)",
            "COPY build/requirements.txt /cortex/build/requirements.txt",
        ]
        if dependenciesScript {
            lines += [
                copyProject,
                "COPY build/dependencies.sh /cortex/build/dependencies.sh",
                "RUN cd \(ImageLayout.project) && VIRTUAL_ENV=\(env) PATH=\(env)/bin:$PATH bash /cortex/build/dependencies.sh",
            ]
        }
        lines += [
            // The copy tells `serve --python-env` that the project's setup is installed (no warning).
            "RUN \(env)/bin/pip install --no-cache-dir --disable-pip-version-check -r /cortex/build/requirements.txt && cp /cortex/build/requirements.txt \(env)/cortex-image-requirements.txt",
            "COPY runtime/ \(ImageLayout.runtime)/",
            "COPY cortex \(ImageLayout.binary)",
        ]
        if !dependenciesScript { lines.append(copyProject) }
        let command = ImageLayout.serveArguments(
            api: nil, port: ManifestRenderer.port, grace: 30, drainDelay: 0)
        lines += [
            "WORKDIR \(ImageLayout.project)",
            "EXPOSE \(ManifestRenderer.port)",
            "ENTRYPOINT [\"\(ImageLayout.binary)\"]",
            "CMD [" + command.map { "\"\($0)\"" }.joined(separator: ", ") + "]",
        ]
        return lines
    }

    /// The Dockerfile's text.
    public var text: String { lines.joined(separator: "\n") + "\n" }
}
