"""Models (docs/PROTOCOL.md "MODELS", docs/CORTEX-COMPATIBILITY.md §5-6): python_client, versions, live reloading,
caching, load failures and the ONNX client, end to end with a real worker process."""
from __future__ import annotations

import json
import os
import socket
import time

import pytest

from worker_harness import P, rss_kib, send_models, start_with_models

PY = """
import os, time

class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client
        with open("constructed.txt", "w") as f:
            f.write("yes")

    def load_model(self, model_path):
        with open(os.path.join(model_path, "value.txt")) as f:
            value = f.read().strip()
        delay = os.path.join(model_path, "delay.txt")
        if os.path.exists(delay):
            with open(delay) as f:
                time.sleep(float(f.read()))
        if value == "boom":
            raise RuntimeError("cannot load " + value)
        return {"value": value}

    def predict(self, query_params):
        how = query_params.get("how", "default")
        v = query_params.get("v")
        name = query_params.get("name")
        c = self.client
        if how == "default":
            m = c.get_model()
        elif how == "pos":
            m = c.get_model(name, v)
        elif how == "kw":
            m = c.get_model(model_name=name, model_version=v)
        elif how == "none":
            m = c.get_model(name, model_version=None)
        elif how == "latest":
            m = c.get_model(name, "latest")
        elif how == "int":
            m = c.get_model(name, int(v))
        elif how == "name":
            m = c.get_model(name)
        else:
            raise AssertionError(how)
        return m["value"]
"""


def version_dir(root, name, version, value, delay=None):
    d = root / "models" / name / str(version)
    d.mkdir(parents=True, exist_ok=True)
    (d / "value.txt").write_text(value)
    if delay is not None:
        (d / "delay.txt").write_text(str(delay))
    return d


def text(w, query):
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query=query)
    return r


# --------------------------------------------------------------------------- protocol

def test_models_frame_vector_parses(vectors):
    from cortex_worker.models import parse_models_frame
    f = next(f for f in vectors["frames"] if f["kind"] == P.MODELS)
    meta = bytes.fromhex(f["meta_hex"])
    assert P.decode_models_meta(meta) == {"models": [{"name": "iris", "versions": [
        {"version": "1", "path": "/m/iris/1", "stamp": "1-1"}]}]}
    assert parse_models_frame(meta) == {"iris": {"1": ("/m/iris/1", "1-1")}}
    assert P.KIND_NAMES[P.MODELS] == "MODELS"
    with pytest.raises(ValueError):
        parse_models_frame(b'{"models": [{"name": "x", "versions": [{"version": "v1", "path": "/p"}]}]}')


# --------------------------------------------------------------------------- python_client

def test_worker_waits_for_the_first_models_frame(front, tmp_path):
    v1 = version_dir(tmp_path, "m", 1, "one")
    w = front(PY, wait=False, spec={"models": {"mode": "single", "cache_size": None,
                                               "signature_keys": {"_cortex_default": None}}})
    with pytest.raises(socket.timeout):
        w.recv(timeout=0.5)
    assert not (w.project / "constructed.txt").exists()
    send_models(w, {"_cortex_default": {"1": v1}})
    assert w.recv(timeout=20)[0] == P.READY
    w.conn.settimeout(20)
    assert (w.project / "constructed.txt").read_text() == "yes"
    r = text(w, "")
    assert (r.status, r.body) == (200, b"one")
    assert w.shutdown() == 0


def test_python_client_single_model_versions(front, tmp_path):
    table = {"_cortex_default": {"1": version_dir(tmp_path, "m", 1, "one"),
                                 "2": version_dir(tmp_path, "m", 2, "two"),
                                 "10": version_dir(tmp_path, "m", 10, "ten")}}
    w = start_with_models(front, PY, table)
    cases = {
        "how=default": b"ten", "how=none": b"ten", "how=latest": b"ten",
        "how=pos&v=2": b"two", "how=kw&v=1": b"one", "how=int&v=2": b"two", "how=kw&v=latest": b"ten",
        # single model: model_name is ignored
        "how=pos&name=whatever&v=1": b"one", "how=kw&v=02": b"two",
    }
    for q, want in cases.items():
        r = text(w, q)
        assert (r.status, r.body) == (200, want), (q, r)
    r = text(w, "how=kw&v=7")
    assert (r.status, r.outcome, r.headers["content-type"]) == (404, P.OUTCOME_HTTP_EXCEPTION, "application/json")
    assert r.json() == {"error": "the model has no version '7'; available versions: 1, 2, 10"}
    r = text(w, "how=kw&v=abc")
    assert r.status == 400 and "model_version must be either a parse-able numeric value or 'latest'" in r.json()["error"]
    # loads are logged with size and time
    err = w.stderr
    assert "loading model version 10 (" in err and "loaded model version 10 in " in err
    assert w.shutdown() == 0


def test_python_client_multi_models(front, tmp_path):
    table = {"iris": {"1": version_dir(tmp_path, "iris", 1, "iris-1"), "2": version_dir(tmp_path, "iris", 2, "iris-2")},
             "mpg": {"3": version_dir(tmp_path, "mpg", 3, "mpg-3")}}
    w = start_with_models(front, PY, table, mode="multi")
    for q, want in {"how=name&name=iris": b"iris-2", "how=pos&name=iris&v=1": b"iris-1",
                    "how=kw&name=mpg&v=3": b"mpg-3", "how=none&name=mpg": b"mpg-3",
                    "how=latest&name=iris": b"iris-2"}.items():
        r = text(w, q)
        assert (r.status, r.body) == (200, want), (q, r)
    r = text(w, "how=name&name=x")
    assert r.status == 404 and r.json() == {"error": "model 'x' not found; available models: iris, mpg"}
    r = text(w, "how=kw&name=iris&v=7")
    assert r.status == 404 and r.json() == {"error": "model 'iris' has no version '7'; available versions: 1, 2"}
    r = text(w, "how=default")
    assert r.status == 400 and r.json()["error"] == (
        "model_name is required (several models are configured); available models: iris, mpg")
    assert "loaded model iris version 2 in" in w.stderr
    assert w.shutdown() == 0


@pytest.mark.parametrize("source,needle", [
    ("""
     class PythonPredictor:
         def __init__(self, config, python_client):
             pass
         def predict(self, payload):
             return 1
     """, "PythonPredictor (predictor.py): the method load_model(self, model_path) is required"),
    ("""
     class PythonPredictor:
         def __init__(self, config):
             pass
         def load_model(self, model_path):
             return 1
         def predict(self, payload):
             return 1
     """, "PythonPredictor (predictor.py): __init__ must take a python_client argument"),
    ("""
     class PythonPredictor:
         def __init__(self, config, python_client):
             pass
         def load_model(self, path):
             return 1
         def predict(self, payload):
             return 1
     """, "PythonPredictor.load_model: 'path' is not a supported argument"),
])
def test_python_models_contract_failures(front, source, needle):
    w = front(source, wait=False, spec={"models": {"mode": "single", "cache_size": None, "signature_keys": {}}})
    kind, _, meta, _ = w.recv()
    assert kind == P.FAILED
    assert needle in json.loads(meta)["error"]
    assert w.wait_exit() == 1


def test_no_caching_loads_every_version_in_the_background_latest_first(front, tmp_path):
    table = {"_cortex_default": {str(i): version_dir(tmp_path, "m", i, f"v{i}", delay=0.1) for i in (1, 2, 3)}}
    w = start_with_models(front, PY, table)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "loaded model version 1 in" not in w.stderr:
        time.sleep(0.05)
    loading = [line.split()[3] for line in w.stderr.splitlines() if line.startswith("loading model version")]
    assert loading == ["3", "2", "1"], w.stderr
    r = text(w, "how=kw&v=1")
    assert r.body == b"v1"
    assert w.stderr.count("loading model version") == 3  # nothing loaded twice
    assert w.shutdown() == 0


def test_concurrent_requests_load_once_and_loaded_models_never_wait(front, tmp_path):
    table = {"_cortex_default": {"1": version_dir(tmp_path, "m", 1, "one", delay=1.0),
                                 "2": version_dir(tmp_path, "m", 2, "two")}}
    w = start_with_models(front, PY, table, cache_size=2, threads=4)
    assert text(w, "how=kw&v=2").body == b"two"
    slow = [w.send_request(b"", kind=P.PAYLOAD_BYTES, query="how=kw&v=1") for _ in range(3)]
    time.sleep(0.1)
    t0 = time.monotonic()
    fast = w.wait_response(w.send_request(b"", kind=P.PAYLOAD_BYTES, query="how=kw&v=2"))
    assert fast.body == b"two" and time.monotonic() - t0 < 0.5
    for rid in slow:
        r = w.wait_response(rid)
        assert (r.status, r.body) == (200, b"one")
    assert w.stderr.count("loading model version 1") == 1
    assert w.shutdown() == 0


def test_live_swap_new_version_without_failed_requests(front, tmp_path):
    v1 = version_dir(tmp_path, "m", 1, "one")
    v2 = version_dir(tmp_path, "m", 2, "two", delay=1.5)
    w = start_with_models(front, PY, {"_cortex_default": {"1": v1}})
    assert text(w, "").body == b"one"
    send_models(w, {"_cortex_default": {"1": v1, "2": v2}})
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < 15:
        s = time.monotonic()
        r = text(w, "")
        assert r.status == 200, r
        assert time.monotonic() - s < 0.5, "a request waited for the background load"
        seen.append(r.body)
        if r.body == b"two":
            break
        time.sleep(0.05)
    assert seen[0] == b"one" and seen[-1] == b"two", seen
    assert b"one" not in seen[seen.index(b"two"):]
    assert seen.count(b"one") >= 5  # served the old one while the new one loaded
    # both versions stay addressable
    assert text(w, "how=kw&v=1").body == b"one"
    assert "loading model version 2" in w.stderr
    assert w.shutdown() == 0


def test_changed_stamp_reloads_and_removed_version_is_404(front, tmp_path):
    v1 = version_dir(tmp_path, "m", 1, "one")
    v2 = version_dir(tmp_path, "m", 2, "two")
    w = start_with_models(front, PY, {"_cortex_default": {"1": v1, "2": v2}}, threads=2)
    assert text(w, "how=kw&v=1").body == b"one"
    (v1 / "value.txt").write_text("one, edited")
    os.utime(v1 / "value.txt", (time.time() + 5, time.time() + 5))
    (v1 / "delay.txt").write_text("0.5")
    send_models(w, {"_cortex_default": {"1": v1, "2": v2}})
    deadline = time.monotonic() + 15
    bodies = []
    while time.monotonic() < deadline:
        r = text(w, "how=kw&v=1")
        assert r.status == 200, r
        bodies.append(r.body)
        if r.body == b"one, edited":
            break
        time.sleep(0.05)
    assert bodies[-1] == b"one, edited", bodies
    assert "reloading model version 1" in w.stderr
    # version 2 removed: 404 for it, latest is 1 now
    send_models(w, {"_cortex_default": {"1": v1}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = text(w, "how=kw&v=2")
        if r.status == 404:
            break
        time.sleep(0.05)
    assert r.json() == {"error": "the model has no version '2'; available versions: 1"}
    assert text(w, "").body == b"one, edited"
    assert "unloaded model version 2 (removed)" in w.stderr
    # every version removed
    send_models(w, {"_cortex_default": {}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = text(w, "")
        if r.status == 404:
            break
        time.sleep(0.05)
    assert r.json() == {"error": "the model has no versions available"}
    assert w.shutdown() == 0


def test_load_failure_is_500_with_message_and_other_versions_work(front, tmp_path):
    v1 = version_dir(tmp_path, "m", 1, "one")
    v2 = version_dir(tmp_path, "m", 2, "boom")
    w = start_with_models(front, PY, {"_cortex_default": {"1": v1, "2": v2}})
    r = text(w, "how=kw&v=2")
    assert (r.status, r.outcome) == (500, P.OUTCOME_HTTP_EXCEPTION)
    assert r.json()["error"].startswith("failed loading model version 2: RuntimeError: cannot load boom")
    assert text(w, "how=kw&v=1").body == b"one"
    err = w.stderr
    assert "failed loading model version 2" in err and "Traceback" in err and "cannot load boom" in err
    # latest keeps serving the newest version that loaded
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and text(w, "").status != 200:
        time.sleep(0.05)
    assert text(w, "").body == b"one"
    # a fixed version (new stamp) loads
    (v2 / "value.txt").write_text("two")
    os.utime(v2 / "value.txt", (time.time() + 5, time.time() + 5))
    send_models(w, {"_cortex_default": {"1": v1, "2": v2}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = text(w, "how=kw&v=2")
        if r.status == 200:
            break
        time.sleep(0.05)
    assert r.body == b"two"
    assert w.shutdown() == 0


def test_get_model_in_constructor_is_a_clear_error(front, tmp_path):
    v1 = version_dir(tmp_path, "m", 1, "one")
    w = front("""
        class PythonPredictor:
            def __init__(self, config, python_client):
                python_client.get_model()
            def load_model(self, model_path):
                return 1
            def predict(self):
                return 1
    """, wait=False, spec={"models": {"mode": "single", "cache_size": None, "signature_keys": {}}})
    send_models(w, {"_cortex_default": {"1": v1}})
    kind, _, meta, _ = w.recv()
    assert kind == P.FAILED
    assert "load_model is not available" in json.loads(meta)["error"]


# --------------------------------------------------------------------------- caching

BIG = """
import os

class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "value.txt")) as f:
            value = f.read().strip()
        blob = bytearray(40 << 20)  # one block, mmapped: freed for real
        for i in range(0, len(blob), 4096):
            blob[i] = 1
        return {"value": value, "blob": blob}

    def predict(self, query_params):
        m = self.client.get_model(model_version=query_params["v"])
        return m["value"]
"""


def test_cache_size_keeps_at_most_n_versions_and_memory_drops(front, tmp_path):
    versions = {str(i): version_dir(tmp_path, "m", i, f"v{i}") for i in range(1, 7)}
    w = start_with_models(front, BIG, {"_cortex_default": versions}, cache_size=2)
    time.sleep(0.3)
    base = rss_kib(w.proc.pid)
    assert "loading" not in w.stderr  # caching: nothing is loaded before it is asked for
    peak = 0
    for i in list(range(1, 7)) + [6, 5, 1]:
        r = text(w, f"v={i}")
        assert (r.status, r.body) == (200, f"v{i}".encode()), r
        peak = max(peak, rss_kib(w.proc.pid))
    bound = base + 3 * 40 * 1024
    assert peak < bound, (base, peak)
    err = w.stderr
    assert err.count("loaded model version") == 7  # 1..6, then 1 again (6 and 5 were cached)
    assert "evicted model version 1 from the cache (cache_size 2)" in err
    # 5 and 1 are cached now: no load
    text(w, "v=5")
    text(w, "v=1")
    assert w.stderr.count("loaded model version") == 7
    assert w.shutdown() == 0


# --------------------------------------------------------------------------- ONNX

ONNX_IRIS = """
labels = ["setosa", "versicolor", "virginica"]

class ONNXPredictor:
    def __init__(self, onnx_client, config):
        self.client = onnx_client

    def predict(self, payload):
        model_input = [
            payload["sepal_length"],
            payload["sepal_width"],
            payload["petal_length"],
            payload["petal_width"],
        ]
        prediction = self.client.predict(model_input)
        predicted_class_id = prediction[0][0]
        return labels[predicted_class_id]
"""


@pytest.fixture(scope="module")
def iris_onnx(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    onx = convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 4]))])
    d = tmp_path_factory.mktemp("iris-onnx") / "1"
    d.mkdir()
    (d / "iris.onnx").write_bytes(onx.SerializeToString())
    return d


def test_onnx_iris_seed_predictor(front, iris_onnx):
    w = start_with_models(front, ONNX_IRIS, {"_cortex_default": {"1": iris_onnx}}, predictor_type="onnx")
    for sample, label in [({"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}, "setosa"),
                          ({"sepal_length": 6.4, "sepal_width": 3.2, "petal_length": 4.5, "petal_width": 1.5}, "versicolor"),
                          ({"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}, "virginica")]:
        r = w.json(sample)
        assert (r.status, r.body) == (200, label.encode()), r
    assert "loaded model version 1 in" in w.stderr
    assert w.shutdown() == 0


@pytest.fixture(scope="module")
def two_input_onnx(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2])
    b = helper.make_tensor_value_info("b", TensorProto.INT64, ["batch", 2])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 2])
    nodes = [helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT), helper.make_node("Add", ["a", "bf"], ["sum"])]
    graph = helper.make_graph(nodes, "two", [a, b], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    d = tmp_path_factory.mktemp("two-onnx") / "3"
    d.mkdir()
    (d / "model.onnx").write_bytes(model.SerializeToString())
    return d


def test_onnx_multi_input_dict_and_get_model(front, two_input_onnx, iris_onnx):
    w = start_with_models(front, """
        class ONNXPredictor:
            def __init__(self, onnx_client, config):
                self.client = onnx_client

            def predict(self, payload, query_params):
                if query_params.get("info"):
                    m = self.client.get_model("two", "3")
                    return {"keys": sorted(m), "inputs": m["input_signatures"],
                            "names": [s.name for s in m["signatures"]],
                            "session": type(m["session"]).__name__}
                out = self.client.predict(payload, "two", query_params.get("v", "latest"))
                return {"n": len(out), "sum": out[0].tolist(), "dtype": str(out[0].dtype)}
    """, {"two": {"3": two_input_onnx}, "iris": {"1": iris_onnx}}, mode="multi", predictor_type="onnx")
    r = w.json({"a": [[1.5, 2.0], [0, 1]], "b": [[1, 2], [3, 4]]})
    assert r.status == 200, r
    assert r.json() == {"n": 1, "sum": [[2.5, 4.0], [3.0, 5.0]], "dtype": "float32"}
    # a flat list is reshaped to the declared shape (one symbolic dim -> -1)
    r = w.json({"a": [1, 2], "b": [3, 4]})
    assert r.json()["sum"] == [[4.0, 6.0]]
    r = w.json({"a": [1, 2]})
    assert r.status == 500 and "missing key 'b'" in r.body.decode()
    r = w.json({"a": [1, 2], "b": [3, 4]}, query="v=4")
    assert r.status == 404 and r.json() == {"error": "model 'two' has no version '4'; available versions: 3"}
    r = w.json({}, query="info=1")
    assert r.json() == {"keys": ["input_signatures", "session", "signatures"],
                        "inputs": {"a": {"shape": ["batch", 2], "type": "float32"},
                                   "b": {"shape": ["batch", 2], "type": "int64"}},
                        "names": ["a", "b"], "session": "InferenceSession"}
    assert w.shutdown() == 0


def test_onnx_version_dir_without_model_file_fails_to_load(front, tmp_path):
    pytest.importorskip("onnxruntime")
    d = tmp_path / "empty" / "1"
    d.mkdir(parents=True)
    (d / "readme.txt").write_text("no model here")
    w = start_with_models(front, ONNX_IRIS, {"_cortex_default": {"1": d}}, predictor_type="onnx")
    r = w.json({"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1})
    assert r.status == 500
    assert "expected exactly one .onnx file" in r.json()["error"]
    assert w.shutdown() == 0
