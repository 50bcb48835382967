"""server_side_batching in the worker runtime: BATCH frames served by a real worker process (this test
playing the front), and the Batcher that merges concurrent onnx_client / tensorflow_client calls,
run against a real onnxruntime session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from worker_harness import P
from cortex_worker.models import Batcher, batch_rows

BATCH_PREDICTOR = """
import time

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload, headers):
        if any(p == "slow" for p in payload):
            time.sleep(0.5)
        return [{"item": p, "batch": len(payload), "h": h.get("x-n")} for p, h in zip(payload, headers)]
"""


def request(rid, payload, n=None):
    meta = P.encode_request_meta(P.PAYLOAD_JSON, "", [("x-n", str(n if n is not None else rid))])
    return rid, meta, json.dumps(payload).encode()


def responses(front, rids, timeout=20):
    """-> {rid: (started, status, body)} for every rid, in any order."""
    got, started = {}, set()
    deadline = time.monotonic() + timeout
    while len(got) < len(rids):
        kind, rid, meta, body = front.recv(timeout=max(0.1, deadline - time.monotonic()))
        if kind == P.START:
            started.add(rid)
        elif kind == P.RESPONSE:
            status, outcome, _ = P.decode_response_meta(meta)
            got[rid] = (rid in started, status, body)
    return got


@pytest.mark.parametrize("threads", [1, 3])
def test_a_batch_frame_is_one_predict_call_with_lists(front, threads):
    f = front(BATCH_PREDICTOR, threads=threads, spec={"batching": {"max_batch_size": 4, "batch_interval": None}})
    f.conn.sendall(P.encode_batch([request(1, {"a": 1}), request(2, [2]), request(3, "three")]))
    got = responses(f, [1, 2, 3])
    assert {rid: json.loads(b) for rid, (_, _, b) in got.items()} == {
        1: {"item": {"a": 1}, "batch": 3, "h": "1"},
        2: {"item": [2], "batch": 3, "h": "2"},
        3: {"item": "three", "batch": 3, "h": "3"}}
    assert all(started and status == 200 for started, status, _ in got.values())


def test_a_request_cancelled_before_its_batch_starts_is_left_out(front):
    f = front(BATCH_PREDICTOR, spec={"batching": {"max_batch_size": 4, "batch_interval": None}})
    # the first batch keeps the worker busy; the second one arrives, then one of its requests is withdrawn
    f.conn.sendall(P.encode_batch([request(1, "slow")]) + P.encode_batch([request(2, "b"), request(3, "c")])
                   + P.encode_frame(P.CANCEL, 3))
    got = responses(f, [1, 2])
    assert json.loads(got[2][2]) == {"item": "b", "batch": 1, "h": "2"}
    f.send(P.SHUTDOWN)
    rest = []
    try:
        while True:
            rest.append(f.recv(timeout=5))
    except (EOFError, OSError):
        pass
    assert not [fr for fr in rest if fr[1] == 3], rest


def test_a_bad_body_is_answered_alone_and_the_rest_of_its_batch_runs(front):
    f = front(BATCH_PREDICTOR, spec={"batching": {"max_batch_size": 4, "batch_interval": None}})
    bad = (2, P.encode_request_meta(P.PAYLOAD_JSON, "", []), b"{nope")
    f.conn.sendall(P.encode_batch([request(1, 1), bad, request(3, 3)]))
    got = responses(f, [1, 2, 3])
    assert got[2][:2] == (False, 400)
    assert json.loads(got[1][2])["batch"] == 2 and json.loads(got[3][2])["batch"] == 2


POST_PREDICTOR = """
class PythonPredictor:
    def __init__(self, config):
        self.log = config["log"]

    def predict(self, payload):
        return [p * 10 for p in payload]

    def post_predict(self, response, payload):
        with open(self.log, "a") as f:
            f.write(f"{payload} {response}\\n")
"""


def test_post_predict_runs_once_per_request_with_its_own_payload_and_response(front, tmp_path):
    log = tmp_path / "post.log"
    f = front(POST_PREDICTOR, config={"log": str(log)},
              spec={"batching": {"max_batch_size": 4, "batch_interval": None}})
    f.conn.sendall(P.encode_batch([request(1, 1), request(2, 2), request(3, 3)]))
    got = responses(f, [1, 2, 3])
    assert {rid: json.loads(b) for rid, (_, _, b) in got.items()} == {1: 10, 2: 20, 3: 30}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(log.read_text().splitlines() if log.exists() else []) < 3:
        time.sleep(0.05)
    assert sorted(log.read_text().splitlines()) == ["1 10", "2 20", "3 30"]


# --------------------------------------------------------------------------- the Batcher

def double(inputs):
    time.sleep(0.002)  # a model call takes time: callers pile up behind it
    return [inputs["x"] * 2, np.full((len(inputs["x"]), 1), len(inputs["x"]))]


def test_batch_rows_needs_one_leading_dimension():
    assert batch_rows({"x": np.zeros((3, 4)), "y": np.zeros((3,))})[0] == 3
    assert batch_rows({"x": np.zeros((3, 4)), "y": np.zeros((2,))}) is None
    assert batch_rows({"x": np.float32(1)}) is None
    assert batch_rows({"x": np.zeros((0, 4))}) is None


@pytest.mark.parametrize("interval", [None, 0.005])
def test_concurrent_calls_each_get_their_own_rows(interval):
    b = Batcher(double, 8, interval, lambda arrays: np.concatenate(arrays))
    results = {}

    def caller(i):
        x = np.array([[i, i + 0.5]] * (1 + i % 3), dtype=np.float32)
        results[i] = (x, b.call({"x": x}))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sizes = set()
    for i, (x, (y, n)) in results.items():
        assert y.shape == x.shape and np.array_equal(y, x * 2)
        sizes.add(int(n[0][0]))
    assert max(sizes) <= 8 and max(sizes) > 1
    assert b.batches < 200 and not b.busy and not b.queue


def test_adaptive_lone_calls_run_alone_and_at_once():
    b = Batcher(double, 8, None, np.concatenate)
    for i in range(20):
        t0 = time.perf_counter()
        y, n = b.call({"x": np.ones((1, 2))})
        assert n[0][0] == 1 and time.perf_counter() - t0 < 0.05


def test_a_fixed_interval_waits_for_company():
    b = Batcher(double, 4, 0.2, np.concatenate)
    t0 = time.perf_counter()
    y, n = b.call({"x": np.ones((1, 2))})
    assert n[0][0] == 1 and time.perf_counter() - t0 >= 0.19
    out = []
    threads = [threading.Thread(target=lambda: out.append(b.call({"x": np.ones((1, 2))}))) for _ in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [int(n[0][0]) for _, n in out] == [4, 4, 4, 4]
    assert time.perf_counter() - t0 < 0.19  # full: it did not wait the interval


def test_a_failing_call_fails_alone():
    def run(inputs):
        if (inputs["x"] < 0).any():
            raise ValueError("negative")
        time.sleep(0.01)
        return [inputs["x"] + 1]

    b = Batcher(run, 8, 0.05, np.concatenate)
    out = {}

    def caller(i):
        try:
            out[i] = b.call({"x": np.array([[i if i != 3 else -1]])})[0]
        except ValueError as e:
            out[i] = e

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(out[3], ValueError)
    assert all(out[i][0][0] == i + 1 for i in range(6) if i != 3)


def test_outputs_without_the_batch_dimension_fall_back_to_single_calls():
    b = Batcher(lambda inputs: [inputs["x"].sum(keepdims=True).reshape(1)], 8, 0.05, np.concatenate)
    out = []
    threads = [threading.Thread(target=lambda i=i: out.append((i, b.call({"x": np.array([[i, i]])})))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((i, float(r[0][0])) for i, r in out) == [(i, 2.0 * i) for i in range(4)]


def test_with_a_real_onnxruntime_session(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "g", [x], [y],
                              [helper.make_tensor("k", TensorProto.FLOAT, [], [3.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    from cortex_worker.models import load_onnx, onnx_inputs
    loaded = load_onnx(str(path), batching={"max_batch_size": 16, "batch_interval": None})
    batcher = loaded["_batcher"]
    out = {}

    def caller(i):
        inputs = onnx_inputs([float(i), -float(i)], loaded["signatures"])
        out[i] = batcher.call(inputs)[0]

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, y in out.items():
        assert y.shape == (1, 2) and y.tolist() == [[3.0 * i, -3.0 * i]]


def test_onnx_fixed_batch_dimension_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    from cortex_worker.models import load_onnx
    load_onnx(str(path))  # fine without batching
    with pytest.raises(ValueError, match=r"first \(batch\) dimension fixed at 1"):
        load_onnx(str(path), batching={"max_batch_size": 4, "batch_interval": None})
