import CortexConfig
import Foundation
import Testing

/// Each case must produce exactly the listed errors (`path: message`), nothing more.
@Suite struct ValidationTests {
    static let topLevel: [Case] = [
        Case(
            "", #": must be a list of API configurations (e.g. "- name: my-api"), but the file is empty"#),
        Case(
            "name: iris\n", #": must be a list of API configurations (e.g. "- name: my-api"), got a map"#),
        Case("[]\n", ": must contain at least one API configuration"),
        Case("- foo\n", #"[0]: must be a map, got "foo""#),
        Case(
            api() + "- 42\n",
            "[1]: must be a map, got 42"),
    ]

    static let apiLevel: [Case] = [
        Case(
            "- kind: RealtimeAPI\n  predictor: {type: python, path: p.py}\n",
            "[0].name: is required"),
        Case(
            "- name: 123\n  kind: RealtimeAPI\n  predictor: {type: python, path: p.py}\n",
            "[0].name: must be a string, got 123"),
        Case(
            api(name: "Iris"),
            #"name: must contain only lower case letters, numbers and dashes, start with a letter and not end with a dash, got "Iris""#
        ),
        Case(
            api(name: "my-api-"),
            #"name: must contain only lower case letters, numbers and dashes, start with a letter and not end with a dash, got "my-api-""#
        ),
        Case(
            api(name: "1api"),
            #"name: must contain only lower case letters, numbers and dashes, start with a letter and not end with a dash, got "1api""#
        ),
        Case(
            api(name: String(repeating: "a", count: 43)),
            "name: must be at most 42 characters long, got 43"),
        Case("- name: iris\n  predictor: {type: python, path: p.py}\n", "kind: is required"),
        Case(
            "- name: iris\n  kind: BatchAPI\n  predictor: {type: python, path: p.py}\n",
            "kind: BatchAPI is not supported by cortex serve (only RealtimeAPI is)"),
        Case(
            "- name: split\n  kind: TrafficSplitter\n  apis:\n    - {name: a, weight: 100}\n",
            "kind: TrafficSplitter is not supported by cortex serve (only RealtimeAPI is)"),
        Case(
            "- name: iris\n  kind: Realtime\n  predictor: {type: python, path: p.py}\n",
            #"kind: must be one of RealtimeAPI, BatchAPI, TrafficSplitter, got "Realtime""#),
        Case("- name: iris\n  kind: RealtimeAPI\n", "predictor: is required"),
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor: p.py\n",
            #"predictor: must be a map, got "p.py""#),
        Case(api("compute: 5"), "compute: must be a map, got 5"),
        Case(api("networking: [a]"), "networking: must be a map, got a list"),
    ]

    static let unknownKeys: [Case] = [
        Case(api("foo: 1"), #"foo: key "foo" is not supported"#),
        Case(api(predictor: "foo: 1"), #"predictor.foo: key "foo" is not supported"#),
        Case(
            api(predictor: "threads_per_proces: 2"),
            #"predictor.threads_per_proces: key "threads_per_proces" is not supported (did you mean "threads_per_process"?)"#
        ),
        Case(
            api("compute:\n  cpus: 1"),
            #"compute.cpus: key "cpus" is not supported (did you mean "cpu"?)"#),
        Case(api("autoscaling:\n  bar: 1"), #"autoscaling.bar: key "bar" is not supported"#),
        Case(api("networking:\n  port: 1"), #"networking.port: key "port" is not supported"#),
        Case(
            api("update_strategy:\n  surge: 1"), #"update_strategy.surge: key "surge" is not supported"#),
        Case(api("monitoring:\n  foo: 1"), #"monitoring.foo: key "foo" is not supported"#),
        Case(
            api(predictor: "models:\n  dir: m\n  cache: 1"),
            #"predictor.models.cache: key "cache" is not supported"#),
        Case(
            api(
                type: "tensorflow",
                predictor:
                    "model_path: m\nthreads_per_process: 2\nserver_side_batching:\n  max_batch_size: 2\n  batch_interval: 1s\n  foo: 1"
            ),
            #"predictor.server_side_batching.foo: key "foo" is not supported"#),
        // The v0.23 docs wrote `path:` for multi-model entries; the schema key is `model_path`.
        Case(
            api(predictor: "models:\n  paths:\n    - name: a\n      path: s3://b/a"),
            "predictor.models.paths[0].model_path: is required",
            #"predictor.models.paths[0].path: key "path" is not supported (did you mean "model_path"?)"#),
    ]

    static let wrongTypes: [Case] = [
        Case(
            api(predictor: "threads_per_process: abc"),
            #"predictor.threads_per_process: must be an integer, got "abc""#),
        Case(
            api(predictor: "threads_per_process: \"2\""),
            #"predictor.threads_per_process: must be an integer, got "2""#),
        Case(
            api(predictor: "threads_per_process: 1.5"),
            "predictor.threads_per_process: must be an integer, got 1.5"),
        Case(
            api(predictor: "processes_per_replica: {a: 1}"),
            "predictor.processes_per_replica: must be an integer, got a map"),
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    type: python\n    path: {a: b}\n",
            "predictor.path: must be a string, got a map"),
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    type: python\n    path: true\n",
            "predictor.path: must be a string, got true"),
        Case(api(predictor: "model_path: [a]"), "predictor.model_path: must be a string, got a list"),
        Case(api(predictor: "config: abc"), #"predictor.config: must be a map, got "abc""#),
        Case(api(predictor: "env: [A]"), "predictor.env: must be a map, got a list"),
        Case(api(predictor: "env:\n  A: {b: c}"), "predictor.env.A: must be a string, got a map"),
        Case(
            api("autoscaling:\n  target_replica_concurrency: abc"),
            #"autoscaling.target_replica_concurrency: must be a number, got "abc""#),
        Case(
            api("autoscaling:\n  window: 60"),
            #"autoscaling.window: must be a duration like "60s", "5m" or "1m30s", got 60"#),
        Case(
            api("networking:\n  local_port: \"8080\""),
            #"networking.local_port: must be an integer, got "8080""#),
        Case(
            api("networking:\n  api_gateway: 1"),
            "networking.api_gateway: must be one of public, none, got 1"),
        Case(api("monitoring:\n  key: [a]"), "monitoring.key: must be a string, got a list"),
        Case(
            api(predictor: "models:\n  paths: abc"), #"predictor.models.paths: must be a list, got "abc""#
        ),
        Case(
            api(predictor: "models:\n  paths: [abc]"),
            #"predictor.models.paths[0]: must be a map, got "abc""#),
    ]

    static let predictor: [Case] = [
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    path: p.py\n",
            "predictor.type: is required"),
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    type: python\n",
            "predictor.path: is required"),
        Case(
            "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    type: python\n    path: \"\"\n",
            "predictor.path: must not be empty"),
        Case(
            api(type: "pytorch"),
            #"predictor.type: must be one of python, tensorflow, onnx, got "pytorch""#),
        Case(
            api(predictor: "processes_per_replica: 0"),
            "predictor.processes_per_replica: must be ≥ 1, got 0"),
        Case(
            api(predictor: "processes_per_replica: 101"),
            "predictor.processes_per_replica: must be ≤ 100, got 101"),
        Case(
            api(predictor: "threads_per_process: 0"), "predictor.threads_per_process: must be ≥ 1, got 0"),
        Case(api(predictor: "model_path: \"\""), "predictor.model_path: must not be empty"),
        Case(
            api(predictor: "model_path: s3://b/m\nmodels:\n  dir: s3://b/models"),
            "predictor.model_path: conflicts with predictor.models"),
        Case(
            api(type: "tensorflow"),
            "predictor.model_path: is required for the tensorflow predictor type (or use predictor.models)"
        ),
        Case(
            api(type: "onnx"),
            "predictor.model_path: is required for the onnx predictor type (or use predictor.models)"),
        Case(
            api(predictor: "signature_key: serve"),
            "predictor.signature_key: is not a supported field for the python predictor type"),
        Case(
            api(type: "onnx", predictor: "model_path: m.onnx\nsignature_key: serve"),
            "predictor.signature_key: is not a supported field for the onnx predictor type"),
        Case(
            api(predictor: "tensorflow_serving_image: x/y:1"),
            "predictor.tensorflow_serving_image: is not a supported field for the python predictor type"),
        Case(
            api(predictor: "python_path: /abs/dir"),
            #"predictor.python_path: must be a path relative to the project directory, got "/abs/dir""#),
        Case(
            api(predictor: "python_path: ~/dir"),
            #"predictor.python_path: must be a path relative to the project directory, got "~/dir""#),
        Case(
            api(predictor: "python_path: ."),
            #"predictor.python_path: must not be the project directory itself (omit python_path instead), got ".""#
        ),
        Case(
            api(predictor: "python_path: ./"),
            #"predictor.python_path: must not be the project directory itself (omit python_path instead), got "./""#
        ),
        Case(
            api(predictor: "python_path: ./."),
            #"predictor.python_path: must not be the project directory itself (omit python_path instead), got "./.""#
        ),
        Case(
            api(predictor: "python_path: ../lib"),
            #"predictor.python_path: must be inside the project directory, got "../lib""#),
        Case(
            api(predictor: "env:\n  CORTEX_VERSION: x"),
            "predictor.env.CORTEX_VERSION: environment variables starting with CORTEX_ are reserved"),
        Case(api(predictor: "timeout: 0"), "predictor.timeout: must be > 0, got 0"),
        Case(api(predictor: "timeout: -5s"), #"predictor.timeout: must be > 0, got "-5s""#),
        Case(
            api(predictor: "timeout: soon"),
            #"predictor.timeout: must be a number of seconds or a duration like "30s" or "1m30s", got "soon""#
        ),
        Case(
            api(predictor: "image: quay.io/cortexlabs/python-predictor-cpu:0.22.0"),
            #"predictor.image: cortexlabs images must use tag 0.23.0, got "quay.io/cortexlabs/python-predictor-cpu:0.22.0""#
        ),
        Case(
            api(
                type: "tensorflow",
                predictor: "model_path: m\ntensorflow_serving_image: cortexlabs/tensorflow-serving-cpu"),
            #"predictor.tensorflow_serving_image: cortexlabs images must use tag 0.23.0, got "cortexlabs/tensorflow-serving-cpu""#
        ),
    ]

    static let models: [Case] = [
        Case(
            api(predictor: "models:\n  cache_size: 1\n  disk_cache_size: 1"),
            "predictor.models: one of paths or dir is required"),
        Case(
            api(predictor: "models:\n  dir: d\n  paths:\n    - {name: a, model_path: a}"),
            "predictor.models.dir: conflicts with predictor.models.paths"),
        Case(
            api(predictor: "models:\n  paths:\n    - {name: a, model_path: a}\n    - {model_path: b}"),
            "predictor.models.paths[1].name: is required"),
        Case(
            api(predictor: "models:\n  paths:\n    - {name: a b, model_path: a}"),
            #"predictor.models.paths[0].name: must contain only letters, numbers, underscores and dashes, got "a b""#
        ),
        Case(
            api(predictor: "models:\n  paths:\n    - {name: _cortex_default, model_path: a}"),
            #"predictor.models.paths[0].name: "_cortex_default" is reserved"#),
        Case(
            api(
                predictor:
                    "models:\n  paths:\n    - {name: a, model_path: a}\n    - {name: a, model_path: b}"),
            #"predictor.models.paths[1].name: "a" is already used by another model"#),
        Case(
            api(predictor: "models:\n  paths:\n    - {name: a, model_path: \"\"}"),
            "predictor.models.paths[0].model_path: must not be empty"),
        Case(
            api(predictor: "models:\n  paths:\n    - {name: a, model_path: a, signature_key: s}"),
            "predictor.models.paths[0].signature_key: is not a supported field for the python predictor type"
        ),
        Case(
            api(predictor: "models:\n  dir: d\n  signature_key: s"),
            "predictor.models.signature_key: is not a supported field for the python predictor type"),
        Case(
            api(predictor: "models:\n  dir: d\n  cache_size: 2"),
            "predictor.models.disk_cache_size: is required when predictor.models.cache_size is set"),
        Case(
            api(predictor: "models:\n  dir: d\n  disk_cache_size: 2"),
            "predictor.models.cache_size: is required when predictor.models.disk_cache_size is set"),
        Case(
            api(predictor: "models:\n  dir: d\n  cache_size: 3\n  disk_cache_size: 2"),
            "predictor.models.cache_size: must be ≤ predictor.models.disk_cache_size (2), got 3"),
        Case(
            api(predictor: "models:\n  dir: d\n  cache_size: 0\n  disk_cache_size: 2"),
            "predictor.models.cache_size: must be ≥ 1, got 0"),
        Case(
            api(
                predictor:
                    "processes_per_replica: 2\nmodels:\n  dir: d\n  cache_size: 1\n  disk_cache_size: 2"),
            "predictor.processes_per_replica: must be 1 when model caching is enabled, got 2"),
    ]

    static let batching: [Case] = {
        func tf(_ lines: String) -> String {
            api(type: "tensorflow", predictor: "model_path: s3://b/m\n" + lines)
        }
        return [
            Case(
                tf("server_side_batching:\n  max_batch_size: 1\n  batch_interval: 10ms"),
                "predictor.server_side_batching.max_batch_size: must be ≥ 2, got 1"),
            Case(
                tf(
                    "threads_per_process: 2000\nserver_side_batching:\n  max_batch_size: 1025\n  batch_interval: 10ms"
                ),
                "autoscaling.target_replica_concurrency: must be ≤ autoscaling.max_replica_concurrency (1024), got 2000 (predictor.processes_per_replica × predictor.threads_per_process)",
                "predictor.server_side_batching.max_batch_size: must be ≤ 1024, got 1025"
            ),
            Case(
                tf("server_side_batching:\n  batch_interval: 10ms"),
                "predictor.server_side_batching.max_batch_size: is required"),
            Case(
                tf("threads_per_process: 2\nserver_side_batching:\n  max_batch_size: 2"),
                "predictor.server_side_batching.batch_interval: is required"),
            Case(
                tf(
                    "threads_per_process: 2\nserver_side_batching:\n  max_batch_size: 2\n  batch_interval: 0s"
                ),
                #"predictor.server_side_batching.batch_interval: must be > 0s (or "adaptive"), got "0s""#),
            Case(
                tf(
                    "threads_per_process: 2\nserver_side_batching:\n  max_batch_size: 2\n  batch_interval: soon"
                ),
                #"predictor.server_side_batching.batch_interval: must be a duration like "10ms" or "500us", or "adaptive", got "soon""#
            ),
            Case(
                tf("threads_per_process: 2\nserver_side_batching:\n  max_batch_size: 2\n  batch_interval: 5"),
                #"predictor.server_side_batching.batch_interval: must be a duration like "10ms" or "500us", or "adaptive", got 5"#
            ),
            // The rule holds for ONNX too (its batches are concurrent onnx_client calls from the threads).
            Case(
                api(
                    type: "onnx",
                    predictor:
                        "model_path: m.onnx\nserver_side_batching:\n  max_batch_size: 8\n  batch_interval: adaptive"
                ),
                "predictor.server_side_batching.max_batch_size: must be ≤ predictor.processes_per_replica × predictor.threads_per_process (1), got 8"
            ),
            Case(
                api(predictor: "server_side_batching:\n  max_batch_size: 0\n  batch_interval: adaptive"),
                "predictor.server_side_batching.max_batch_size: must be ≥ 2, got 0"),
            Case(
                api(predictor: "server_side_batching: 8"),
                "predictor.server_side_batching: must be a map, got 8"),
            Case(
                tf(
                    "threads_per_process: 4\nserver_side_batching:\n  max_batch_size: 8\n  batch_interval: 10ms"
                ),
                "predictor.server_side_batching.max_batch_size: must be ≤ predictor.processes_per_replica × predictor.threads_per_process (4), got 8"
            ),
            Case(
                tf(
                    "processes_per_replica: 2\nthreads_per_process: 2\nserver_side_batching:\n  max_batch_size: 4\n  batch_interval: 10ms"
                )
                    + "  compute:\n    inf: 1\n",
                "predictor.server_side_batching.max_batch_size: must be ≤ predictor.threads_per_process (2) when compute.inf is set, got 4"
            ),
        ]
    }()

    static let compute: [Case] = [
        Case(api("compute:\n  cpu: 10m"), #"compute.cpu: must be ≥ 20m, got "10m""#),
        Case(api("compute:\n  cpu: 0.01"), "compute.cpu: must be ≥ 20m, got 0.01"),
        Case(
            api("compute:\n  cpu: lots"), #"compute.cpu: must be a quantity like "500m" or 2, got "lots""#
        ),
        Case(api("compute:\n  mem: 10Mi"), #"compute.mem: must be ≥ 20Mi, got "10Mi""#),
        Case(
            api("compute:\n  mem: 1 Gi"),
            #"compute.mem: must be a quantity like "512Mi" or "2Gi", got "1 Gi""#),
        Case(api("compute:\n  gpu: -1"), "compute.gpu: must be ≥ 0, got -1"),
        Case(api("compute:\n  inf: 2"), "compute.inf: must be ≤ 1, got 2"),
        Case(api("compute:\n  inf: 1\n  gpu: 1"), "compute.inf: conflicts with compute.gpu"),
        Case(
            api(type: "onnx", predictor: "model_path: m", "compute:\n  inf: 1"),
            "compute.inf: is not supported for the onnx predictor type"),
        Case(
            api(predictor: "processes_per_replica: 3", "compute:\n  inf: 1"),
            "predictor.processes_per_replica: must evenly divide compute.inf × 4 (4) when compute.inf is set, got 3"
        ),
    ]

    static let networking: [Case] = [
        Case(
            api("networking:\n  endpoint: iris"), #"networking.endpoint: must start with "/", got "iris""#
        ),
        Case(api("networking:\n  endpoint: /"), #"networking.endpoint: must not be "/""#),
        Case(
            api("networking:\n  endpoint: /a//b"),
            #"networking.endpoint: must not contain "//", got "/a//b""#),
        Case(
            api("networking:\n  endpoint: /a?b=1"),
            ##"networking.endpoint: must be a URL path (no spaces, "?" or "#"), got "/a?b=1""##),
        Case(api("networking:\n  local_port: 0"), "networking.local_port: must be ≥ 1, got 0"),
        Case(
            api("networking:\n  local_port: 70000"), "networking.local_port: must be ≤ 65535, got 70000"),
        Case(
            api("networking:\n  api_gateway: private"),
            #"networking.api_gateway: must be one of public, none, got "private""#),
        Case(
            api("networking:\n  max_request_size: 0"), "networking.max_request_size: must be > 0, got 0"),
        Case(
            api("networking:\n  max_request_size: huge"),
            #"networking.max_request_size: must be a quantity like 1048576 or "256Mi", got "huge""#),
    ]

    static let autoscaling: [Case] = [
        Case(api("autoscaling:\n  min_replicas: -1"), "autoscaling.min_replicas: must be ≥ 0, got -1"),
        Case(
            api("autoscaling:\n  min_replicas: 0\n  init_replicas: -1"),
            "autoscaling.init_replicas: must be ≥ 0, got -1"),
        Case(
            api("autoscaling:\n  min_replicas: 1\n  init_replicas: 0"),
            "autoscaling.init_replicas: must be ≥ autoscaling.min_replicas (1), got 0"),
        Case(api("autoscaling:\n  max_replicas: 0"), "autoscaling.max_replicas: must be ≥ 1, got 0"),
        Case(
            api("autoscaling:\n  min_replicas: 5\n  max_replicas: 3"),
            "autoscaling.min_replicas: must be ≤ autoscaling.max_replicas (3), got 5"),
        Case(
            api("autoscaling:\n  min_replicas: 2\n  init_replicas: 1"),
            "autoscaling.init_replicas: must be ≥ autoscaling.min_replicas (2), got 1"),
        Case(
            api("autoscaling:\n  init_replicas: 200"),
            "autoscaling.init_replicas: must be ≤ autoscaling.max_replicas (100), got 200"),
        Case(
            api("autoscaling:\n  target_replica_concurrency: 0"),
            "autoscaling.target_replica_concurrency: must be > 0, got 0"),
        Case(
            api("autoscaling:\n  target_replica_concurrency: 2000"),
            "autoscaling.target_replica_concurrency: must be ≤ autoscaling.max_replica_concurrency (1024), got 2000"
        ),
        Case(
            api("autoscaling:\n  target_replica_concurrency: 20\n  max_replica_concurrency: 10"),
            "autoscaling.target_replica_concurrency: must be ≤ autoscaling.max_replica_concurrency (10), got 20"
        ),
        Case(
            api(predictor: "processes_per_replica: 100\nthreads_per_process: 20"),
            "autoscaling.target_replica_concurrency: must be ≤ autoscaling.max_replica_concurrency (1024), got 2000 (predictor.processes_per_replica × predictor.threads_per_process)"
        ),
        Case(
            api("autoscaling:\n  max_replica_concurrency: 0"),
            "autoscaling.max_replica_concurrency: must be ≥ 1, got 0"),
        Case(
            api("autoscaling:\n  max_replica_concurrency: 30001"),
            "autoscaling.max_replica_concurrency: must be ≤ 30000, got 30001"),
        Case(api("autoscaling:\n  window: 5s"), #"autoscaling.window: must be ≥ 10s, got "5s""#),
        Case(
            api("autoscaling:\n  window: 15s"),
            #"autoscaling.window: must be a multiple of 10s, got "15s""#),
        Case(
            api("autoscaling:\n  downscale_stabilization_period: -1m"),
            #"autoscaling.downscale_stabilization_period: must be ≥ 0s, got "-1m""#),
        Case(
            api("autoscaling:\n  upscale_stabilization_period: 1 minute"),
            #"autoscaling.upscale_stabilization_period: must be a duration like "60s", "5m" or "1m30s", got "1 minute""#
        ),
        Case(
            api("autoscaling:\n  max_downscale_factor: 1"),
            "autoscaling.max_downscale_factor: must be < 1, got 1"),
        Case(
            api("autoscaling:\n  max_downscale_factor: -0.1"),
            "autoscaling.max_downscale_factor: must be ≥ 0, got -0.1"),
        Case(
            api("autoscaling:\n  max_upscale_factor: 1"),
            "autoscaling.max_upscale_factor: must be > 1, got 1"),
        Case(
            api("autoscaling:\n  downscale_tolerance: 1.0"),
            "autoscaling.downscale_tolerance: must be < 1, got 1.0"),
        Case(
            api("autoscaling:\n  downscale_tolerance: -0.5"),
            "autoscaling.downscale_tolerance: must be ≥ 0, got -0.5"),
        Case(
            api("autoscaling:\n  upscale_tolerance: -1"),
            "autoscaling.upscale_tolerance: must be ≥ 0, got -1"),
    ]

    static let updateStrategy: [Case] = [
        Case(
            api("update_strategy:\n  max_surge: 0\n  max_unavailable: 0%"),
            "update_strategy: max_surge and max_unavailable cannot both be 0"),
        Case(
            api("update_strategy:\n  max_surge: lots"),
            #"update_strategy.max_surge: must be an integer or a percentage like "25%", got "lots""#),
        Case(
            api("update_strategy:\n  max_surge: -1"), "update_strategy.max_surge: must be ≥ 0, got -1"),
        Case(
            api("update_strategy:\n  max_unavailable: 150%"),
            #"update_strategy.max_unavailable: must be between 0% and 100%, got "150%""#),
        Case(
            api("monitoring:\n  model_type: clustering"),
            #"monitoring.model_type: must be one of classification, regression, got "clustering""#),
    ]

    @Test(arguments: topLevel) func topLevelRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: apiLevel) func apiRules(_ c: Case) { #expect(summaries(c.yaml) == c.expected) }
    @Test(arguments: unknownKeys) func unknownKeyRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: wrongTypes) func wrongTypeRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: predictor) func predictorRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: models) func modelsRules(_ c: Case) { #expect(summaries(c.yaml) == c.expected) }
    @Test(arguments: batching) func batchingRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    /// A Python predictor's batches are formed in the front: one thread takes a whole batch, so
    /// `max_batch_size` is not bound by processes × threads there; `adaptive` is accepted everywhere.
    @Test func batchingForEveryPredictorType() throws {
        let python = try specs(
            api(predictor: "server_side_batching:\n  max_batch_size: 64\n  batch_interval: adaptive"))
        #expect(python[0].predictor.serverSideBatching == ServerSideBatchingSpec(maxBatchSize: 64, batchInterval: nil))
        #expect(python[0].predictor.serverSideBatching?.isAdaptive == true)
        let onnx = try specs(
            api(
                type: "onnx",
                predictor:
                    "model_path: m.onnx\nthreads_per_process: 8\nserver_side_batching:\n  max_batch_size: 8\n  batch_interval: 2ms"
            ))
        #expect(onnx[0].predictor.serverSideBatching == ServerSideBatchingSpec(maxBatchSize: 8, batchInterval: 0.002))
        let tf = try specs(
            api(
                type: "tensorflow",
                predictor:
                    "model_path: m\nprocesses_per_replica: 2\nthreads_per_process: 2\nserver_side_batching:\n  max_batch_size: 4\n  batch_interval: adaptive"
            ))
        #expect(tf[0].predictor.serverSideBatching?.isAdaptive == true)
    }

    @Test func adaptiveBatchingRoundTripsThroughJSON() throws {
        let spec = ServerSideBatchingSpec(maxBatchSize: 16, batchInterval: nil)
        let data = try JSONEncoder().encode(spec)
        #expect(String(decoding: data, as: UTF8.self).contains(#""batch_interval":"adaptive""#))
        #expect(try JSONDecoder().decode(ServerSideBatchingSpec.self, from: data) == spec)
        let fixed = ServerSideBatchingSpec(maxBatchSize: 4, batchInterval: 0.01)
        #expect(try JSONDecoder().decode(ServerSideBatchingSpec.self, from: JSONEncoder().encode(fixed)) == fixed)
    }

    @Test(arguments: compute) func computeRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: networking) func networkingRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: autoscaling) func autoscalingRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }
    @Test(arguments: updateStrategy) func updateStrategyAndMonitoringRules(_ c: Case) {
        #expect(summaries(c.yaml) == c.expected)
    }

    @Test func errorDescriptionHasFileLineApiAndPath() {
        let yaml = """
            # a comment
            - name: iris
              kind: RealtimeAPI
              predictor:
                type: python
                path: predictor.py
                threads_per_process: 0
            """
        let errs = errors(yaml)
        #expect(errs.count == 1)
        #expect(errs.first?.line == 7)
        #expect(errs.first?.api == "iris")
        #expect(
            errs.first?.description
                == "cortex.yaml:7: api iris: predictor.threads_per_process: must be ≥ 1, got 0")
    }

    @Test func missingFieldPointsAtItsParentAndUnknownKeyAtTheKey() {
        let yaml = """
            - name: iris
              kind: RealtimeAPI
              predictor:
                path: predictor.py
              colour: blue
            """
        let errs = errors(yaml)
        #expect(
            errs.map(\.description) == [
                "cortex.yaml:4: api iris: predictor.type: is required",
                #"cortex.yaml:5: api iris: colour: key "colour" is not supported"#,
            ])
    }

    @Test func allErrorsAreCollectedInFileOrder() {
        let yaml = """
            - name: a
              kind: RealtimeAPI
              predictor:
                type: python
                path: a.py
                processes_per_replica: 0
              compute:
                gpu: -1
            - name: b
              kind: RealtimeAPI
              predictor:
                type: keras
                path: b.py
            """
        let errs = errors(yaml)
        #expect(
            errs.map(\.description) == [
                "cortex.yaml:6: api a: predictor.processes_per_replica: must be ≥ 1, got 0",
                "cortex.yaml:8: api a: compute.gpu: must be ≥ 0, got -1",
                #"cortex.yaml:12: api b: predictor.type: must be one of python, tensorflow, onnx, got "keras""#,
            ])
        let all = ConfigErrors(errs)
        #expect(all.description.split(separator: "\n").count == 3)
    }

    @Test func unnamedApiErrorsArePrefixedWithTheirIndex() {
        let yaml = api(name: "a") + "- kind: RealtimeAPI\n  predictor:\n    type: python\n"
        let errs = errors(yaml)
        #expect(
            errs.map(\.description) == [
                "cortex.yaml:6: [1].name: is required",
                "cortex.yaml:8: [1].predictor.path: is required",
            ])
    }

    @Test func duplicateNamesAreRejected() {
        let yaml = api(name: "iris") + api(name: "iris")
        let errs = errors(yaml)
        #expect(
            errs.map(\.description) == [
                #"cortex.yaml:6: api iris: name: "iris" is already used by another API (line 1)"#
            ])
    }

    @Test func duplicateEndpointsAndPortsAreRejected() {
        let yaml =
            api(name: "a", "networking:\n  endpoint: /x\n  local_port: 8889")
            + api(name: "b", "networking:\n  endpoint: /x\n  local_port: 8889")
        #expect(
            summaries(yaml) == [
                #"networking.endpoint: "/x" is already used by api a"#,
                "networking.local_port: 8889 is already used by api a",
            ])
    }

    @Test func invalidYAMLIsReportedWithALine() {
        let errs = errors("- name: iris\n  kind: [RealtimeAPI\n")
        #expect(errs.count == 1)
        #expect(errs.first?.path == "")
        #expect(errs.first?.message.hasPrefix("invalid YAML: ") == true)
        #expect(errs.first?.line != nil)
    }

    @Test func duplicateKeysAreInvalidYAML() {
        let errs = errors("- name: iris\n  name: other\n  kind: RealtimeAPI\n")
        #expect(errs.map(\.message) == [#"invalid YAML: duplicate key "name""#])
        #expect(errs.first?.line == 1)
    }
}
