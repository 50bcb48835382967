// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "cortex-swift",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cortex", targets: ["cortex"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // cortex.yaml → validated API specs (pure).
        .target(
            name: "CortexConfig",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        // Project directory: ignore rules, .env, staging a filtered copy.
        .target(
            name: "CortexProject",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ]
        ),
        // multipart/form-data and urlencoded bodies → form parts (pure).
        .target(name: "FormParsing"),
        // Front↔worker frame codec and message types (pure).
        .target(
            name: "WorkerProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Dispatch, admission and back-off policies (pure).
        .target(
            name: "Scheduling",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")]
        ),
        // Worker processes: spawning, dispatch over the socket, supervision.
        .target(
            name: "Workers",
            dependencies: [
                "WorkerProtocol", "Scheduling", "ChildProcesses", "CortexMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            resources: [.copy("python")]
        ),
        // Model folders: versions, layout validation, the catalog sent to workers.
        .target(name: "ModelRepository"),
        // Running child processes to completion, their output as progress.
        .target(
            name: "ChildProcesses",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Managed virtualenvs keyed by requirements.
        .target(
            name: "PythonEnvironment",
            dependencies: [
                "CortexProject", "ChildProcesses",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The swift-metrics backend: a swift-prometheus registry with every metric's help text.
        .target(
            name: "CortexMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // cortex.yaml APIs → Kubernetes objects (pure), rendered as YAML.
        .target(
            name: "KubernetesManifests",
            dependencies: ["CortexConfig", "Scheduling", .product(name: "Yams", package: "Yams")]
        ),
        // The HTTP front.
        .target(
            name: "Server",
            dependencies: [
                "Workers", "WorkerProtocol", "FormParsing", "CortexMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Commands: project preparation, serve orchestration, logging.
        .target(
            name: "CortexApp",
            dependencies: [
                "CortexConfig", "CortexProject", "ModelRepository", "PythonEnvironment", "Server", "ChildProcesses",
                "Workers",
                "WorkerProtocol", "CortexMetrics", "KubernetesManifests", "Scheduling",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "cortex",
            dependencies: [
                "CortexApp", "Server", "KubernetesManifests",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "CortexConfigTests", dependencies: ["CortexConfig"]),
        .testTarget(name: "CortexProjectTests", dependencies: ["CortexProject"]),
        .testTarget(name: "ChildProcessesTests", dependencies: ["ChildProcesses"]),
        .testTarget(
            name: "PythonEnvironmentTests", dependencies: ["PythonEnvironment"], resources: [.copy("fixtures")]),
        .testTarget(
            name: "WorkerProtocolTests",
            dependencies: ["WorkerProtocol"],
            resources: [.copy("vectors")]
        ),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling"]),
        .testTarget(name: "FormParsingTests", dependencies: ["FormParsing"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Workers", "CortexMetrics", .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .testTarget(name: "ModelRepositoryTests", dependencies: ["ModelRepository"]),
        .testTarget(name: "CortexAppTests", dependencies: ["CortexApp", "CortexConfig"]),
        .testTarget(name: "CortexMetricsTests", dependencies: ["CortexMetrics"]),
        .testTarget(
            name: "KubernetesManifestsTests", dependencies: ["KubernetesManifests", "CortexConfig", "Scheduling"]),
        .testTarget(name: "EndToEndTests", dependencies: []),
    ],
    swiftLanguageModes: [.v6]
)
