"""Predictor metrics (docs/PROTOCOL.md "METRICS"): the metrics_client's validation against the shared
vectors (Tests/vectors/metrics.json, also checked by the front), buffering, the frame encoding
(Tests/WorkerProtocolTests/vectors/frames.json), and a real worker sending METRICS frames for a predictor's
calls and for model loads."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from worker_harness import P, start_with_models
from cortex_worker import metrics as M

ROOT = Path(__file__).resolve().parents[2]
CASES = json.loads((ROOT / "Tests" / "vectors" / "metrics.json").read_text(encoding="utf-8"))
CALLS = {c["case"]: c for c in CASES["calls"]}
CONFLICTS = {c["case"]: c for c in CASES["conflicts"]}
METHOD = {"counter": "increment", "gauge": "gauge", "histogram": "histogram"}


def call(client, c):
    getattr(client, METHOD[c["kind"]])(c["name"], c["value"], c["tags"])


def entries(buffer):
    frame = buffer.take_frame()
    if frame is None:
        return []
    (kind, rid, meta, body), = P.decode_frames(frame)[0]
    assert (kind, rid, body) == (P.METRICS, 0, b"")
    return P.decode_metrics_meta(meta)


@pytest.mark.parametrize("case", sorted(CALLS))
def test_calls_follow_the_shared_rules(case):
    c = CALLS[case]
    buffer = M.MetricsBuffer()
    client = M.MetricsClient(buffer)
    if c.get("runtime") or "error" in c:
        # the runtime's own names are reserved for a predictor
        code = "reserved-name" if c.get("runtime") else c["error"]
        with pytest.raises(ValueError) as info:
            call(client, c)
        assert info.value.code == code, str(info.value)
        assert entries(buffer) == []
        return
    call(client, c)
    assert entries(buffer) == [{"kind": c["kind"], "name": c["name"], "value": c["value"], "tags": c["tags"]}]
    assert M.exposed_name(c["kind"], c["name"]) == c["exposed"]


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_a_name_keeps_its_kind(case):
    c = CONFLICTS[case]
    client = M.MetricsClient(M.MetricsBuffer())
    call(client, c["first"])
    if "error" in c:
        with pytest.raises(ValueError) as info:
            call(client, c["second"])
        assert info.value.code == c["error"]
        assert "first recorded as a" in str(info.value)
    else:
        call(client, c["second"])


def test_errors_are_actionable_and_raised_at_the_call_site():
    client = M.MetricsClient(M.MetricsBuffer())
    with pytest.raises(ValueError, match=r"'queue-depth' is not a valid Prometheus metric name"):
        client.gauge("queue-depth", 1)
    with pytest.raises(ValueError, match=r"tag name 'api' is reserved"):
        client.increment("hits", tags={"api": "x"})
    with pytest.raises(ValueError, match=r"counter only goes up"):
        client.increment("hits", -2)
    with pytest.raises(ValueError, match=r"not a number"):
        client.histogram("latency_seconds", "fast")
    with pytest.raises(ValueError, match=r"not finite"):
        client.gauge("depth", float("nan"))
    with pytest.raises(ValueError, match=r"not finite"):
        client.histogram("latency_seconds", float("inf"))
    with pytest.raises(ValueError, match=r"tags must be a dict"):
        client.increment("hits", 1, ["a", "b"])
    with pytest.raises(ValueError, match=r"not a valid Prometheus metric name"):
        client.increment(["not", "a", "name"])


def test_counters_sum_gauges_keep_the_last_value_histograms_keep_every_observation():
    buffer = M.MetricsBuffer()
    client = M.MetricsClient(buffer)
    client.increment("hits")
    client.increment("hits", 2, {"b": "2", "a": "1"})
    client.increment("hits", 0.5, {"a": "1", "b": "2"})  # same series: tags in another order
    client.increment("hits", 4)
    client.gauge("depth", 7)
    client.gauge("depth", 3)
    client.histogram("size_bytes", 10)
    client.histogram("size_bytes", 20)
    assert entries(buffer) == [
        {"kind": "counter", "name": "hits", "value": 5, "tags": {}},
        {"kind": "counter", "name": "hits", "value": 2.5, "tags": {"a": "1", "b": "2"}},
        {"kind": "gauge", "name": "depth", "value": 3, "tags": {}},
        {"kind": "histogram", "name": "size_bytes", "value": 10, "tags": {}},
        {"kind": "histogram", "name": "size_bytes", "value": 20, "tags": {}},
    ]
    assert buffer.take_frame() is None  # the buffer was emptied


def test_numpy_like_numbers_are_accepted():
    import fractions
    buffer = M.MetricsBuffer()
    client = M.MetricsClient(buffer)
    client.gauge("ratio", fractions.Fraction(1, 4))  # a numbers.Real that is neither int nor float
    client.increment("big", 1 << 60)  # beyond 2**53: sent as a float
    got = entries(buffer)
    assert got[0] == {"kind": "counter", "name": "big", "value": float(1 << 60), "tags": {}}
    assert got[1] == {"kind": "gauge", "name": "ratio", "value": 0.25, "tags": {}}


def test_the_frame_is_the_shared_vector(vectors):
    vector = next(f for f in vectors["frames"] if f["name"] == "metrics")
    assert vector["kind"] == P.METRICS == 40
    buffer = M.MetricsBuffer()
    client = M.MetricsClient(buffer)
    client.increment("predictions_total", 1, {"label": "cat"})
    client.gauge("queue_depth", 0.75)
    client.increment("predictions_total", 2, {"label": "cat"})
    client.histogram("score", 0.25, {"model": "café"})
    client.gauge("queue_depth", 0.5)
    client.histogram("score", 2, {"model": "café"})
    buffer.model_load("iris", "1", True, 0.125)
    # counters, then gauges, then histograms, each in the order first seen: the vector byte for byte
    assert buffer.take_frame() == bytes.fromhex(vector["frame_hex"])


def test_model_loads_are_reserved_names_the_runtime_may_use():
    buffer = M.MetricsBuffer()
    buffer.model_load("_cortex_default", "2", False, 3.0)
    assert entries(buffer) == [{"kind": "counter", "name": "cortex_model_loads_total", "value": 1,
                                "tags": {"model": "_cortex_default", "outcome": "error", "version": "2"}}]


def test_the_flusher_sends_at_most_every_interval_and_at_once_past_the_threshold():
    sent = []
    lock = threading.Lock()

    def send(frame):
        with lock:
            sent.append((time.monotonic(), P.decode_metrics_meta(P.decode_frames(frame)[0][0][2])))

    buffer = M.MetricsBuffer(interval=0.2, flush_at=50)
    client = M.MetricsClient(buffer)
    buffer.start(send)
    try:
        t0 = time.monotonic()
        client.increment("hits")  # the first entry: sent right away (nothing was sent for an interval)
        deadline = time.monotonic() + 2
        while not sent and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(sent) == 1 and sent[0][0] - t0 < 0.15
        for i in range(5):
            client.increment("hits")
        time.sleep(0.05)
        assert len(sent) == 1  # waits for the interval
        deadline = time.monotonic() + 2
        while len(sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sent[1][1] == [{"kind": "counter", "name": "hits", "value": 5, "tags": {}}]
        assert sent[1][0] - sent[0][0] >= 0.19
        # past flush_at entries a frame goes out without waiting for the interval
        t1 = time.monotonic()
        for i in range(60):
            client.histogram("size_bytes", i)
        deadline = time.monotonic() + 2
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert len(sent) == 3 and sent[2][0] - t1 < 0.15
    finally:
        buffer.stop()
    total = sum(len(entries_) for _, entries_ in sent[2:])
    assert total == 60  # stop() flushed the rest


def test_a_full_buffer_drops_and_warns_once(capsys):
    buffer = M.MetricsBuffer(max_pending=3)
    client = M.MetricsClient(buffer)
    for i in range(10):
        client.histogram("h", i)
    client.increment("c")  # a new series: dropped too
    assert len(entries(buffer)) == 3
    assert "dropped 8 observation(s)" in capsys.readouterr().err
    for i in range(10):
        client.histogram("h", i)
    assert len(entries(buffer)) == 3
    assert "dropped" not in capsys.readouterr().err


def test_calls_are_cheap():
    buffer = M.MetricsBuffer()
    client = M.MetricsClient(buffer)
    n = 20000
    t0 = time.perf_counter()
    for i in range(n):
        client.increment("hits", 1, {"model": "a"})
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 50e-6, per_call  # a few microseconds in practice


# --------------------------------------------------------------------------- a real worker

PREDICTOR = """
class PythonPredictor:
    def __init__(self, config, metrics_client):
        self.metrics = metrics_client
        metrics_client.increment("constructed")

    def predict(self, payload):
        m = self.metrics
        if payload.get("bad"):
            m.increment("bad-name")  # ValueError: the user's 500, the worker serves on
        m.increment("predictions", tags={"label": payload["label"]})
        m.gauge("last_size", len(payload["label"]))
        m.histogram("score", payload["score"], {"label": payload["label"]})
        return {"ok": True}
"""


@pytest.mark.parametrize("threads", [1, 3])
def test_a_worker_sends_its_predictors_metrics(front, threads):
    w = front(PREDICTOR, threads=threads)
    assert w.json({"label": "cat", "score": 0.5}).status == 200
    assert w.json({"label": "cat", "score": 1.5}).status == 200
    assert w.json({"label": "dog", "score": 2}).status == 200
    r = w.json({"bad": True, "label": "x", "score": 1})
    assert r.status == 500 and b"ValueError" in r.body and b"bad-name" in r.body
    assert w.json({"label": "dog", "score": 3}).status == 200
    got = w.drain_metrics(0.5)
    counts = {}
    for e in got:
        if e["kind"] == "counter":
            key = (e["name"], tuple(sorted(e["tags"].items())))
            counts[key] = counts.get(key, 0) + e["value"]
    assert counts == {("constructed", ()): 1, ("predictions", (("label", "cat"),)): 2,
                      ("predictions", (("label", "dog"),)): 2}
    scores = sorted(e["value"] for e in got if e["name"] == "score")
    assert scores == [0.5, 1.5, 2, 3]
    assert [e["value"] for e in got if e["name"] == "last_size"][-1] == 3
    assert "bad-name" in w.stderr and "Traceback" in w.stderr
    assert w.shutdown() == 0


def test_metrics_sent_right_before_exit_are_flushed(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, metrics_client):
                self.m = metrics_client
            def predict(self, payload):
                return {}
            def post_predict(self, payload):
                self.m.increment("after", 7)
    """)
    assert w.json({}).status == 200
    w.send(P.SHUTDOWN)
    assert w.wait_exit(20) == 0
    w.drain_metrics(0.5)
    assert [e for e in w.metrics if e["name"] == "after"] == [
        {"kind": "counter", "name": "after", "value": 7, "tags": {}}]


def test_a_predictor_without_metrics_client_sends_none(front):
    w = front("""
        class PythonPredictor:
            def predict(self, payload):
                return {}
    """)
    assert w.json({}).status == 200
    assert w.drain_metrics(0.3) == []
    assert w.shutdown() == 0


MODEL_PREDICTOR = """
import os

class PythonPredictor:
    def __init__(self, python_client, metrics_client):
        self.client = python_client

    def load_model(self, model_path):
        value = open(os.path.join(model_path, "value.txt")).read().strip()
        if value == "boom":
            raise RuntimeError("cannot load")
        return value

    def predict(self, query_params):
        return {"value": self.client.get_model(query_params.get("name"), query_params.get("v", "latest"))}
"""


def test_model_loads_are_reported(front, tmp_path):
    models = {}
    for name, version, value in (("iris", "1", "a"), ("iris", "2", "boom"), ("wine", "1", "w")):
        d = tmp_path / "m" / name / version
        d.mkdir(parents=True)
        (d / "value.txt").write_text(value)
        models.setdefault(name, {})[version] = d
    w = start_with_models(front, MODEL_PREDICTOR, models, mode="multi", cache_size=2)
    assert w.call(b"", kind=P.PAYLOAD_BYTES, query="name=iris&v=1").status == 200
    assert w.call(b"", kind=P.PAYLOAD_BYTES, query="name=iris&v=2").status == 500
    assert w.call(b"", kind=P.PAYLOAD_BYTES, query="name=wine").status == 200
    got = w.drain_metrics(0.5)
    loads = sorted((e["tags"]["model"], e["tags"]["version"], e["tags"]["outcome"], e["value"])
                   for e in got if e["name"] == "cortex_model_loads_total")
    assert loads == [("iris", "1", "ok", 1), ("iris", "2", "error", 1), ("wine", "1", "ok", 1)]
    seconds = [e for e in got if e["name"] == "cortex_model_load_seconds"]
    assert sorted(e["tags"]["model"] for e in seconds) == ["iris", "wine"]
    assert all(e["kind"] == "histogram" and 0 <= e["value"] < 10 for e in seconds)
    assert w.shutdown() == 0
