"""predictor.server_side_batching end to end (README, "Server-side batching"): the real binary, real
Python workers, a real onnxruntime model and a real TensorFlow SavedModel built at test time.

Per-item correctness under concurrency for each predictor type; batch formation (sizes the model saw,
reported back in every response) against max_batch_size / batch_interval / adaptive; the batch error
cases; withdrawal and worker death inside batches; the ONNX fixed-batch-dimension refusal at start."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cortex_e2e import child_pids


def python_yaml(batching, threads=1, processes=1, predictor_extra="", extra=""):
    return f"""
        - name: batch
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            processes_per_replica: {processes}
            threads_per_process: {threads}
            {predictor_extra}
            server_side_batching:
              {batching}
          {extra}
        """


def batching_block(max_batch_size, interval):
    return f"max_batch_size: {max_batch_size}\n              batch_interval: {interval}"


# Every item is answered from its own payload (and query); each response says how big its batch was.
PY_PREDICTOR = """
    import json, os, sys, time

    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload, query_params):
            assert isinstance(payload, list) and isinstance(query_params, list)
            modes = {p.get("mode") for p in payload if isinstance(p, dict)}
            if any(isinstance(p, dict) and p.get("trace") for p in payload):
                print("batch ids", [p.get("id") for p in payload], flush=True)
            if "sleep" in modes:
                time.sleep(max(p.get("seconds", 0) for p in payload if isinstance(p, dict)))
            if "raise" in modes:
                raise ValueError("a bad batch")
            if "short" in modes:
                return [{}] * (len(payload) - 1)
            if "dict" in modes:
                return {"not": "a list"}
            return [{"id": p["id"], "square": p["x"] * p["x"], "tag": q.get("tag"), "batch": len(payload)}
                    for p, q in zip(payload, query_params)]
"""


def concurrently(url, payloads, concurrency, params=None, timeout=60):
    """POSTs every payload (JSON) with `concurrency` client threads; -> [(payload, response)]."""
    local = threading.local()

    def one(p):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        return p, session.post(url, json=p, params=params(p) if params else None, timeout=timeout)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, payloads))


# --------------------------------------------------------------------------- PythonPredictor

def test_python_thousands_of_concurrent_requests_each_get_their_own_answer(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(16, "adaptive")), "predictor.py": PY_PREDICTOR})
    payloads = [{"id": i, "x": i * 7 - 3000} for i in range(3000)]
    results = concurrently(s.url + "/batch", payloads, 64, params=lambda p: {"tag": f"t{p['id']}"})
    sizes = []
    for p, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == p["id"] and body["square"] == p["x"] ** 2 and body["tag"] == f"t{p['id']}", body
        sizes.append(body["batch"])
    assert max(sizes) <= 16
    assert max(sizes) > 1, "64 concurrent clients never formed a batch"
    assert len({r.headers["x-request-id"] for _, r in results}) == len(results)


def test_python_adaptive_at_concurrency_one_sends_batches_of_one_without_waiting(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(32, "adaptive")), "predictor.py": PY_PREDICTOR})
    with requests.Session() as session:
        for i in range(50):
            t0 = time.perf_counter()
            r = session.post(s.url + "/batch", json={"id": i, "x": i}, timeout=10)
            assert r.status_code == 200 and r.json() == {"id": i, "square": i * i, "tag": None, "batch": 1}
            assert time.perf_counter() - t0 < 0.5


def test_python_fixed_interval_waits_for_the_batch_to_fill_and_respects_the_maximum(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(4, "300ms")), "predictor.py": PY_PREDICTOR})
    # A lone request waits the interval for company, then goes as a batch of one.
    t0 = time.perf_counter()
    r = s.post("/batch", json={"id": 1, "x": 2})
    elapsed = time.perf_counter() - t0
    assert r.json()["batch"] == 1 and 0.28 <= elapsed < 2, elapsed
    # Three at once: one batch of three, sent when the interval ends (not full).
    t0 = time.perf_counter()
    results = concurrently(s.url + "/batch", [{"id": i, "x": i} for i in range(3)], 3)
    assert [r.json()["batch"] for _, r in results] == [3, 3, 3]
    assert time.perf_counter() - t0 >= 0.28
    # Ten at once: full batches of four leave at once, the remaining two after the interval.
    results = concurrently(s.url + "/batch", [{"id": i, "x": i} for i in range(10)], 10)
    sizes = sorted(r.json()["batch"] for _, r in results)
    assert sizes == [2, 2, 4, 4, 4, 4, 4, 4, 4, 4], sizes
    for p, r in results:
        assert r.json()["square"] == p["x"] ** 2


def test_python_batch_errors(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(4, "500ms")), "predictor.py": PY_PREDICTOR})

    def batch_of(payloads):
        return [r for _, r in concurrently(s.url + "/batch", payloads, len(payloads))]

    # Wrong length: a 500 for every request of the batch, naming the lengths.
    rs = batch_of([{"id": 0, "x": 0, "mode": "short"}] + [{"id": i, "x": i} for i in range(1, 4)])
    for r in rs:
        assert r.status_code == 500
        assert "batch of 4 payload(s) and returned a list of 3 item(s)" in r.json()["error"], r.text
    # Not a list.
    rs = batch_of([{"id": 0, "x": 0, "mode": "dict"}, {"id": 1, "x": 1}])
    for r in rs:
        assert r.status_code == 500 and "returned dict, not a list" in r.json()["error"], r.text
    # An exception: a 500 for each, logged once with every request id of the batch.
    rs = batch_of([{"id": 0, "x": 0, "mode": "raise"}, {"id": 1, "x": 1}, {"id": 2, "x": 2}])
    ids = sorted(r.headers["x-request-id"] for r in rs)
    for r in rs:
        assert r.status_code == 500 and r.headers["x-request-id"] in r.text, r.text
    time.sleep(0.3)
    headlines = [line for line in s.logs().splitlines() if "predict raised ValueError: a bad batch" in line]
    assert len(headlines) == 1, headlines
    assert all(i in headlines[0] for i in ids), (headlines, ids)
    # A body that is not JSON is answered 400 alone; the rest of its batch is served.
    url = s.url + "/batch"
    with ThreadPoolExecutor(3) as pool:
        bad = pool.submit(requests.post, url, data=b"{nope", headers={"content-type": "application/json"})
        good = [pool.submit(requests.post, url, json={"id": i, "x": i}) for i in (5, 6)]
        assert bad.result().status_code == 400
        assert sorted(g.result().json()["square"] for g in good) == [25, 36]
        assert all(g.result().json()["batch"] == 2 for g in good)


def test_python_a_request_withdrawn_before_its_batch_leaves_is_not_in_it(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(8, "800ms")), "predictor.py": PY_PREDICTOR})
    # A client that gives up while its request waits for the batch: the request is withdrawn.
    gone = socket.create_connection(("127.0.0.1", s.port))
    body = json.dumps({"id": 99, "x": 99}).encode()
    gone.sendall(b"POST /batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.2)
    gone.close()
    time.sleep(0.1)
    results = concurrently(s.url + "/batch", [{"id": i, "x": i} for i in range(2)], 2)
    assert [r.json()["batch"] for _, r in results] == [2, 2]


def test_python_a_worker_killed_mid_batch_fails_exactly_that_batch(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(4, "1s")), "predictor.py": PY_PREDICTOR})
    (worker,) = child_pids(s.proc.pid)
    url = s.url + "/batch"
    with ThreadPoolExecutor(6) as pool:
        doomed = [pool.submit(requests.post, url, json={"id": i, "x": i, "mode": "sleep", "seconds": 30}, timeout=60)
                  for i in range(4)]
        time.sleep(1.0)  # the batch of four (full: it left at once) is running; its worker holds no more
        later = pool.submit(requests.post, url, json={"id": 10, "x": 10}, timeout=60)
        time.sleep(0.3)
        os.kill(worker, signal.SIGKILL)
        for f in doomed:
            assert f.result().status_code == 502, f.result().text
        # queued while no worker had room, then sent to the respawned worker once its 1 s interval
        # passed: the batch timer is armed when a worker becomes ready, not only on submit
        r = later.result()
        assert r.status_code == 200 and r.json()["square"] == 100 and r.json()["batch"] == 1


def test_python_timeouts_and_admission_count_each_request_of_a_batch(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(2, "50ms"), predictor_extra="timeout: 1",
                                          extra="autoscaling:\n            max_replica_concurrency: 4"),
               "predictor.py": PY_PREDICTOR})
    url = s.url + "/batch"
    with ThreadPoolExecutor(5) as pool:
        running = [pool.submit(requests.post, url, json={"id": i, "x": i, "mode": "sleep", "seconds": 2,
                                                         "trace": True}, timeout=30) for i in (0, 1)]
        time.sleep(0.4)
        queued = [pool.submit(requests.post, url, json={"id": i, "x": i, "trace": True}, timeout=30) for i in (7, 8)]
        time.sleep(0.2)
        # admission counts requests, not batches: 2 running + 2 queued = max_replica_concurrency
        refused = requests.post(url, json={"id": 9, "x": 9, "trace": True}, timeout=30)
        assert refused.status_code == 503, refused.text
        for f in running + queued:
            r = f.result()
            assert r.status_code == 504 and "predictor.timeout" in r.json()["error"], r.text
    time.sleep(2.0)
    assert s.post("/batch", json={"id": 3, "x": 3, "trace": True}).json()["square"] == 9
    time.sleep(0.2)
    seen = [sorted(json.loads(line.split("batch ids ", 1)[1].split("]")[0] + "]"))
            for line in s.logs().splitlines() if "batch ids " in line]
    # the expired queued requests never ran, nor did the refused one
    assert seen == [[0, 1], [3]], seen


def test_python_multithreaded_workers_hold_one_batch_per_thread(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(8, "adaptive"), threads=2, processes=2),
               "predictor.py": PY_PREDICTOR})
    payloads = [{"id": i, "x": i} for i in range(1000)]
    results = concurrently(s.url + "/batch", payloads, 32)
    for p, r in results:
        assert r.status_code == 200 and r.json()["id"] == p["id"] and r.json()["square"] == p["x"] ** 2
        assert 1 <= r.json()["batch"] <= 8


def test_drain_answers_every_queued_and_batched_request(serve):
    s = serve({"cortex.yaml": python_yaml(batching_block(4, "50ms")), "predictor.py": PY_PREDICTOR})
    url = s.url + "/batch"
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(requests.post, url, json={"id": i, "x": i, "mode": "sleep", "seconds": 0.5},
                               timeout=60) for i in range(8)]
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        for f in futures:
            assert f.result().status_code == 200
    assert s.proc.wait(30) == 0


# --------------------------------------------------------------------------- ONNXPredictor

ONNX_BUILDER = r"""
import sys
import onnx
from onnx import TensorProto, helper

fixed = len(sys.argv) > 2 and sys.argv[2] == "fixed"
first = 1 if fixed else "batch"
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [first, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [first, 4])
n = helper.make_tensor_value_info("n", TensorProto.FLOAT, [first, 4])
nodes = [
    # y = 2x + 1
    helper.make_node("Mul", ["x", "two"], ["x2"]),
    helper.make_node("Add", ["x2", "one"], ["y"]),
    # n = the number of rows of this call, on every row: sum over rows of (x*0 + 1), broadcast back
    helper.make_node("Mul", ["x", "zero"], ["z"]),
    helper.make_node("Add", ["z", "one"], ["ones"]),
    helper.make_node("ReduceSum", ["ones", "axes"], ["rows"], keepdims=1),
    helper.make_node("Add", ["z", "rows"], ["n"]),
]
init = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [0])]
graph = helper.make_graph(nodes, "rows", [x], [y, n], init)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
"""

ONNX_PREDICTOR = """
    class ONNXPredictor:
        def __init__(self, onnx_client, config):
            self.client = onnx_client

        def predict(self, payload):
            y, n = self.client.predict([payload["x"]])
            return {"id": payload["id"], "y": y[0].tolist(), "n": int(n[0][0]), "shape": list(y.shape)}
"""


def onnx_yaml(batching, threads):
    return f"""
        - name: rows
          kind: RealtimeAPI
          predictor:
            type: onnx
            path: predictor.py
            model_path: model/
            threads_per_process: {threads}
            server_side_batching:
              {batching}
        """


def build_onnx(directory, fixed=False):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "model.onnx")
    subprocess.run([sys.executable, "-c", ONNX_BUILDER, path] + (["fixed"] if fixed else []), check=True)
    return open(path, "rb").read()


def test_onnx_concurrent_calls_are_merged_and_each_caller_gets_its_own_rows(serve, tmp_path):
    model = build_onnx(tmp_path / "m")
    s = serve({"cortex.yaml": onnx_yaml(batching_block(8, "adaptive"), 8), "predictor.py": ONNX_PREDICTOR,
               "model/model.onnx": model})
    payloads = [{"id": i, "x": [i, -i, i / 4, 1e3 + i]} for i in range(2000)]
    results = concurrently(s.url + "/rows", payloads, 32)
    sizes = []
    for p, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == p["id"] and body["shape"] == [1, 4]
        assert body["y"] == pytest.approx([2 * v + 1 for v in p["x"]], rel=1e-6)
        sizes.append(body["n"])
    assert max(sizes) <= 8 and max(sizes) > 1, sorted(set(sizes))


def test_onnx_fixed_interval_fills_the_batch(serve, tmp_path):
    model = build_onnx(tmp_path / "m")
    s = serve({"cortex.yaml": onnx_yaml(batching_block(4, "400ms"), 4), "predictor.py": ONNX_PREDICTOR,
               "model/model.onnx": model})
    t0 = time.perf_counter()
    r = s.post("/rows", json={"id": 0, "x": [1, 2, 3, 4]})
    assert r.json()["n"] == 1 and time.perf_counter() - t0 >= 0.38
    results = concurrently(s.url + "/rows", [{"id": i, "x": [i, i, i, i]} for i in range(4)], 4)
    assert [r.json()["n"] for _, r in results] == [4, 4, 4, 4]
    for p, r in results:
        assert r.json()["y"] == [2 * p["id"] + 1.0] * 4


def test_onnx_model_with_a_batch_dimension_fixed_at_one_is_refused_at_start(serve, tmp_path):
    model = build_onnx(tmp_path / "m", fixed=True)
    s = serve({"cortex.yaml": onnx_yaml(batching_block(4, "adaptive"), 4), "predictor.py": ONNX_PREDICTOR,
               "model/model.onnx": model}, wait=False)
    assert s.wait_exit(300) != 0
    logs = s.logs()
    assert "server_side_batching: input 'x' of model.onnx has its first (batch) dimension fixed at 1" in logs, logs
    assert "api rows" in logs


# --------------------------------------------------------------------------- TensorFlowPredictor

TF_BUILDER = r"""
import sys
import tensorflow as tf

class Rows(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        n = tf.shape(x)[0]
        return {"y": x * 3.0 - 1.0, "n": tf.fill([n], n)}

m = Rows()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
"""

TF_PREDICTOR = """
    class TensorFlowPredictor:
        def __init__(self, tensorflow_client, config):
            self.client = tensorflow_client

        def predict(self, payload):
            out = self.client.predict({"x": [payload["x"]]})
            return {"id": payload["id"], "y": out["y"], "n": out["n"]}
"""


@pytest.fixture(scope="module")
def tf_model_files(tmp_path_factory):
    """The SavedModel's files, as {"model/1/<relative path>": bytes}, built once for this module."""
    model_dir = tmp_path_factory.mktemp("tf") / "saved"
    subprocess.run([sys.executable, "-c", TF_BUILDER, str(model_dir)], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    files = {}
    for root, _, names in os.walk(model_dir):
        for name in names:
            full = os.path.join(root, name)
            files["model/1/" + os.path.relpath(full, model_dir)] = open(full, "rb").read()
    return files


def tf_yaml(batching, threads):
    return f"""
        - name: rows
          kind: RealtimeAPI
          predictor:
            type: tensorflow
            path: predictor.py
            model_path: model/
            threads_per_process: {threads}
            server_side_batching:
              {batching}
        """


def test_tensorflow_concurrent_calls_are_merged_and_each_caller_gets_its_own_rows(serve, tf_model_files):
    s = serve({"cortex.yaml": tf_yaml(batching_block(8, "adaptive"), 8), "predictor.py": TF_PREDICTOR,
               **tf_model_files})
    payloads = [{"id": i, "x": [i, 0.5 * i, -i]} for i in range(1500)]
    results = concurrently(s.url + "/rows", payloads, 32)
    sizes = []
    for p, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == p["id"]
        assert body["y"] == pytest.approx([3 * v - 1 for v in p["x"]], rel=1e-6)
        assert len(body["n"]) == 1  # its own row only, as unbatched
        sizes.append(body["n"][0])
    assert max(sizes) <= 8 and max(sizes) > 1, sorted(set(sizes))


def test_tensorflow_fixed_interval_fills_the_batch(serve, tf_model_files):
    s = serve({"cortex.yaml": tf_yaml(batching_block(4, "400ms"), 4), "predictor.py": TF_PREDICTOR,
               **tf_model_files})
    t0 = time.perf_counter()
    r = s.post("/rows", json={"id": 0, "x": [1, 2, 3]})
    assert r.json()["n"] == [1] and time.perf_counter() - t0 >= 0.38
    results = concurrently(s.url + "/rows", [{"id": i, "x": [i, i, i]} for i in range(4)], 4)
    assert [r.json()["n"] for _, r in results] == [[4]] * 4
    for p, r in results:
        assert r.json()["y"] == pytest.approx([3.0 * p["id"] - 1] * 3)
