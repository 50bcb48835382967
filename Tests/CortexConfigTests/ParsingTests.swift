import CortexConfig
import Foundation
import Testing

@Suite struct ParsingTests {
    @Test func minimalConfigGetsEveryDefault() throws {
        let result = try specs(api())
        #expect(result.count == 1)
        let spec = try #require(result.first)
        #expect(spec.name == "iris")
        #expect(spec.kind == "RealtimeAPI")
        let expected = PredictorSpec(
            type: .python, path: "predictor.py", image: "quay.io/cortexlabs/python-predictor-cpu:0.23.0")
        #expect(spec.predictor == expected)
        #expect(spec.predictor.processesPerReplica == 1)
        #expect(spec.predictor.threadsPerProcess == 1)
        #expect(spec.predictor.config == [:])
        #expect(spec.predictor.env == [:])
        #expect(spec.predictor.timeout == nil)
        #expect(spec.predictor.pythonPath == nil)
        #expect(
            spec.networking
                == NetworkingSpec(
                    endpoint: "/iris", localPort: nil, apiGateway: "public", maxRequestSize: 268_435_456))
        #expect(spec.compute == ComputeSpec(cpu: nil, mem: nil, gpu: 0, inf: 0))
        #expect(
            spec.autoscaling
                == AutoscalingSpec(
                    minReplicas: 1, maxReplicas: 100, initReplicas: 1, targetReplicaConcurrency: 1,
                    maxReplicaConcurrency: 1024, window: 60, downscaleStabilizationPeriod: 300,
                    upscaleStabilizationPeriod: 60, maxDownscaleFactor: 0.75, maxUpscaleFactor: 1.5,
                    downscaleTolerance: 0.05, upscaleTolerance: 0.05))
        #expect(spec.updateStrategy == UpdateStrategySpec(maxSurge: "25%", maxUnavailable: "25%"))
        #expect(spec.monitoring == nil)
    }

    @Test func predictorClassNames() {
        #expect(PredictorType.python.className == "PythonPredictor")
        #expect(PredictorType.tensorflow.className == "TensorFlowPredictor")
        #expect(PredictorType.onnx.className == "ONNXPredictor")
    }

    @Test func fullTensorFlowConfig() throws {
        let yaml = """
            - name: resnet
              kind: RealtimeAPI
              predictor:
                type: tensorflow
                path: predictor.py
                models:
                  paths:
                    - name: inception
                      model_path: s3://bucket/inception
                    - name: iris
                      model_path: ./models/iris
                      signature_key: predict
                  signature_key: serving_default
                  cache_size: 1
                  disk_cache_size: 2
                server_side_batching:
                  max_batch_size: 8
                  batch_interval: 100ms
                threads_per_process: 8
                python_path: ./src
                env:
                  LOG: debug
                  PORT: 8080
                timeout: 1m30s
              networking:
                endpoint: /v1/resnet
                local_port: 8889
                api_gateway: none
                max_request_size: 10Mi
              compute:
                cpu: 1
                mem: 2Gi
                gpu: 1
              autoscaling:
                min_replicas: 2
                max_replicas: 10
                target_replica_concurrency: 4.5
                max_replica_concurrency: 100
                window: 1m
                downscale_stabilization_period: 1m30s
                upscale_stabilization_period: 0s
                max_downscale_factor: 0.5
                max_upscale_factor: 2
                downscale_tolerance: 0.1
                upscale_tolerance: 0
              update_strategy:
                max_surge: 1
                max_unavailable: 0%
              monitoring:
                model_type: classification
                key: label
            """
        let spec = try #require(try specs(yaml).first)
        let p = spec.predictor
        #expect(p.type == .tensorflow)
        #expect(
            p.models
                == ModelsSpec(
                    paths: [
                        ModelPathSpec(name: "inception", modelPath: "s3://bucket/inception"),
                        ModelPathSpec(name: "iris", modelPath: "./models/iris", signatureKey: "predict"),
                    ], dir: nil, signatureKey: "serving_default", cacheSize: 1, diskCacheSize: 2))
        #expect(p.models?.cachingEnabled == true)
        #expect(p.serverSideBatching == ServerSideBatchingSpec(maxBatchSize: 8, batchInterval: 0.1))
        #expect(p.threadsPerProcess == 8)
        #expect(p.pythonPath == "src/")
        #expect(p.env == ["LOG": "debug", "PORT": "8080"])
        #expect(p.timeout == 90)
        #expect(p.image == "quay.io/cortexlabs/tensorflow-predictor:0.23.0")
        #expect(p.tensorflowServingImage == "quay.io/cortexlabs/tensorflow-serving-gpu:0.23.0")
        #expect(
            spec.networking
                == NetworkingSpec(
                    endpoint: "/v1/resnet", localPort: 8889, apiGateway: "none",
                    maxRequestSize: 10 * 1_048_576))
        #expect(spec.compute == ComputeSpec(cpu: "1", mem: "2Gi", gpu: 1, inf: 0))
        #expect(spec.compute.cpuCores == 1)
        #expect(spec.compute.memBytes == 2 * 1_073_741_824)
        #expect(
            spec.autoscaling
                == AutoscalingSpec(
                    minReplicas: 2, maxReplicas: 10, initReplicas: 2, targetReplicaConcurrency: 4.5,
                    maxReplicaConcurrency: 100, window: 60, downscaleStabilizationPeriod: 90,
                    upscaleStabilizationPeriod: 0, maxDownscaleFactor: 0.5, maxUpscaleFactor: 2,
                    downscaleTolerance: 0.1, upscaleTolerance: 0))
        #expect(spec.updateStrategy == UpdateStrategySpec(maxSurge: "1", maxUnavailable: "0%"))
        #expect(spec.monitoring == MonitoringSpec(modelType: "classification", key: "label"))
    }

    @Test func targetConcurrencyDefaultsToProcessesTimesThreads() throws {
        let spec = try #require(
            try specs(api(predictor: "processes_per_replica: 4\nthreads_per_process: 3")).first)
        #expect(spec.autoscaling.targetReplicaConcurrency == 12)
    }

    @Test func initReplicasDefaultsToMinReplicas() throws {
        let spec = try #require(try specs(api("autoscaling:\n  min_replicas: 3")).first)
        #expect(spec.autoscaling.initReplicas == 3)
        let explicit = try #require(
            try specs(api("autoscaling:\n  min_replicas: 3\n  init_replicas: 5")).first)
        #expect(explicit.autoscaling.initReplicas == 5)
    }

    /// Beyond Cortex (which required ≥ 1): `min_replicas: 0` scales an idle API to zero.
    @Test func minReplicasZeroIsAccepted() throws {
        let spec = try #require(try specs(api("autoscaling:\n  min_replicas: 0")).first)
        #expect(spec.autoscaling.minReplicas == 0)
        #expect(spec.autoscaling.initReplicas == 0)
        let warm = try #require(try specs(api("autoscaling:\n  min_replicas: 0\n  init_replicas: 2")).first)
        #expect(warm.autoscaling.initReplicas == 2)
    }

    @Test(
        arguments: [
            ("python", "compute:\n  gpu: 1", "quay.io/cortexlabs/python-predictor-gpu:0.23.0", nil),
            ("python", "compute:\n  inf: 1", "quay.io/cortexlabs/python-predictor-inf:0.23.0", nil),
            ("onnx", "compute:\n  gpu: 2", "quay.io/cortexlabs/onnx-predictor-gpu:0.23.0", nil),
            ("onnx", "", "quay.io/cortexlabs/onnx-predictor-cpu:0.23.0", nil),
            (
                "tensorflow", "", "quay.io/cortexlabs/tensorflow-predictor:0.23.0",
                "quay.io/cortexlabs/tensorflow-serving-cpu:0.23.0"
            ),
            (
                "tensorflow", "compute:\n  inf: 1", "quay.io/cortexlabs/tensorflow-predictor:0.23.0",
                "quay.io/cortexlabs/tensorflow-serving-inf:0.23.0"
            ),
        ] as [(String, String, String, String?)])
    func defaultImagesFollowTypeAndDevice(type: String, rest: String, image: String, serving: String?)
        throws
    {
        let modelPath = type == "python" ? "" : "model_path: s3://b/m"
        let spec = try #require(try specs(api(type: type, predictor: modelPath, rest)).first)
        #expect(spec.predictor.image == image)
        #expect(spec.predictor.tensorflowServingImage == serving)
    }

    @Test func customImagesAreKept() throws {
        let spec = try #require(
            try specs(api(predictor: "image: my/python:1\n")).first)
        #expect(spec.predictor.image == "my/python:1")
        let tagged = try #require(
            try specs(api(predictor: "image: quay.io/cortexlabs/python-predictor-gpu:0.23.0\n")).first)
        #expect(tagged.predictor.image == "quay.io/cortexlabs/python-predictor-gpu:0.23.0")
    }

    @Test(arguments: [
        ("src", "src/"), ("./src", "src/"), ("src/", "src/"), ("./a/b", "a/b/"), ("a/./b/", "a/./b/"),
    ])
    func pythonPathIsNormalised(input: String, expected: String) throws {
        let spec = try #require(try specs(api(predictor: "python_path: \(input)")).first)
        #expect(spec.predictor.pythonPath == expected)
    }

    @Test func configIsConvertedToJSON() throws {
        let yaml = api(
            predictor: """
                config:
                  bucket: cortex-examples
                  key: sklearn/iris-classifier/model.pkl
                  threshold: 0.5
                  count: 3
                  flags: [true, null, "x"]
                  nested: {a: {b: 1.0}}
                  "1": one
                """)
        let spec = try #require(try specs(yaml).first)
        let config = spec.predictor.config
        #expect(config["bucket"] == .string("cortex-examples"))
        #expect(config["count"] == .int(3))
        #expect(config["threshold"] == .double(0.5))
        #expect(config["flags"] == [true, nil, "x"])
        #expect(config["nested"] == ["a": ["b": 1.0]])
        #expect(
            config.jsonText
                == #"{"1":"one","bucket":"cortex-examples","count":3,"flags":[true,null,"x"],"key":"sklearn/iris-classifier/model.pkl","nested":{"a":{"b":1.0}},"threshold":0.5}"#
        )
    }

    @Test(arguments: ["config: null", "config: ~", "config:", "config: {}"])
    func nullOrEmptyConfigIsAnEmptyMap(line: String) throws {
        let spec = try #require(try specs(api(predictor: line)).first)
        #expect(spec.predictor.config == [:])
        #expect(spec.predictor.config.jsonText == "{}")
    }

    @Test func optionalSectionsMayBeNull() throws {
        let yaml = api(
            predictor: "env: null\nmodels: null\nmodel_path: null",
            "compute: null\nnetworking:\nautoscaling: ~")
        let spec = try #require(try specs(yaml).first)
        #expect(spec.predictor.env == [:])
        #expect(spec.predictor.models == nil)
        #expect(spec.networking.endpoint == "/iris")
        #expect(spec.autoscaling == AutoscalingSpec())
    }

    @Test func pythonPredictorMayHaveModelPathOrModels() throws {
        let single = try #require(try specs(api(predictor: "model_path: s3://b/model")).first)
        #expect(single.predictor.modelPath == "s3://b/model")
        let dir = try #require(try specs(api(predictor: "models:\n  dir: s3://b/models")).first)
        #expect(dir.predictor.models == ModelsSpec(dir: "s3://b/models"))
    }

    @Test(arguments: [
        ("timeout: 30", 30.0), ("timeout: 0.5", 0.5), ("timeout: 30s", 30), ("timeout: 1m30s", 90),
        ("timeout: 250ms", 0.25),
    ])
    func timeoutAcceptsSecondsOrDurations(line: String, seconds: Double) throws {
        let spec = try #require(try specs(api(predictor: line)).first)
        #expect(spec.predictor.timeout == seconds)
    }

    @Test(arguments: [
        ("max_request_size: 1000", 1000), ("max_request_size: 1Mi", 1_048_576),
        ("max_request_size: 1.5Ki", 1536),
        ("max_request_size: 2G", 2_000_000_000), ("max_request_size: \"4096\"", 4096),
    ])
    func maxRequestSizeAcceptsBytesOrQuantities(line: String, bytes: Int) throws {
        let spec = try #require(try specs(api("networking:\n  " + line)).first)
        #expect(spec.networking.maxRequestSize == bytes)
    }

    @Test(arguments: [
        ("cpu: 500m", "500m", 0.5), ("cpu: 2", "2", 2.0), ("cpu: 0.25", "0.25", 0.25),
        ("cpu: \"1.5\"", "1.5", 1.5),
    ])
    func cpuQuantities(line: String, text: String, cores: Double) throws {
        let spec = try #require(try specs(api("compute:\n  " + line)).first)
        #expect(spec.compute.cpu == text)
        #expect(spec.compute.cpuCores == cores)
    }

    @Test func multipleAPIsKeepTheirOrder() throws {
        let yaml =
            api(name: "a") + api(name: "b", type: "onnx", predictor: "model_path: s3://b/m.onnx")
            + api(name: "c")
        let result = try specs(yaml)
        #expect(result.map(\.name) == ["a", "b", "c"])
        #expect(result.map(\.predictor.type) == [.python, .onnx, .python])
        #expect(result.map(\.networking.endpoint) == ["/a", "/b", "/c"])
    }

    @Test func anchorsAndMergeKeysAreSupported() throws {
        let yaml = """
            - &base
              name: a
              kind: RealtimeAPI
              predictor:
                type: python
                path: predictor.py
                config: {model: small}
            - <<: *base
              name: b
            """
        let result = try specs(yaml)
        #expect(result.map(\.name) == ["a", "b"])
        #expect(result[1].predictor == result[0].predictor)
        #expect(result[1].networking.endpoint == "/b")
    }

    @Test func resolvedSpecsEncodeWithYAMLFieldNames() throws {
        let spec = try #require(
            try specs(api(predictor: "config: {a: 1}", "update_strategy:\n  max_surge: 1")).first)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(spec), as: UTF8.self)
        for key in [
            "\"processes_per_replica\":1", "\"threads_per_process\":1", "\"update_strategy\":{",
            "\"max_surge\":\"1\"",
            "\"max_request_size\":268435456", "\"api_gateway\":\"public\"",
            "\"target_replica_concurrency\":1",
            "\"downscale_stabilization_period\":300", "\"config\":{\"a\":1}", "\"type\":\"python\"",
        ] {
            #expect(json.contains(key), "\(key) missing from \(json)")
        }
        #expect(!json.contains("processesPerReplica"))
        let decoded = try JSONDecoder().decode(APISpec.self, from: try encoder.encode(spec))
        #expect(decoded == spec)
    }

    @Test func loadReadsAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cortexconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("cortex.yaml")
        try api().write(to: file, atomically: true, encoding: .utf8)
        let result = try ConfigLoader.load(path: file.path)
        #expect(result.map(\.name) == ["iris"])

        try (api() + "  bogus: 1\n").write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigErrors.self) { try ConfigLoader.load(path: file.path) }
        do {
            _ = try ConfigLoader.load(path: file.path)
        } catch {
            #expect(
                error.errors.map(\.description) == [
                    "\(file.path):6: api iris: bogus: key \"bogus\" is not supported"
                ])
        }
    }

    @Test func unreadableFileIsAConfigError() {
        let path = "/nonexistent-\(UUID().uuidString)/cortex.yaml"
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors.first?.file == path)
            #expect(error.errors.first?.message.hasPrefix("cannot read file") == true)
        }
    }
}
