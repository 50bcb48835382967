"""Predictor metrics and model-load metrics on GET /metrics (docs/PROTOCOL.md "METRICS", README "Predictor
metrics"): a predictor's metrics_client calls (counter, gauge, histogram with tags) appear labelled with
api=<name>, every model load is counted by outcome with its duration, names the front refuses are logged
(once) and never break the worker or the front, and the exposition passes `promtool check metrics`."""
import json
import pathlib
import time

from cortex_e2e import assert_promtool_accepts
from test_metrics import samples, value

YAML = """
- name: scores
  kind: RealtimeAPI
  predictor:
    type: python
    path: scores.py
- name: texts
  kind: RealtimeAPI
  predictor:
    type: python
    path: texts.py
    model_path: models
"""

SCORES = '''
class PythonPredictor:
    def __init__(self, config, metrics_client):
        self.metrics = metrics_client
        metrics_client.gauge("scores_ready", 1)

    def predict(self, payload):
        m = self.metrics
        if payload.get("bad_tag"):
            m.increment("predictions", tags={"api": "mine"})  # ValueError here: a 500 for this request
        m.increment("predictions", tags={"label": payload["label"]})
        m.increment("payload_bytes", len(str(payload)))
        m.gauge("last_score", payload["score"], {"label": payload["label"]})
        m.histogram("score", payload["score"], tags={"label": payload["label"]})
        return {"ok": True}
'''

TEXTS = '''
import os

class PythonPredictor:
    def __init__(self, python_client, metrics_client):
        self.client = python_client
        self.metrics = metrics_client

    def load_model(self, model_path):
        text = open(os.path.join(model_path, "model.txt")).read().strip()
        if text == "boom":
            raise RuntimeError("this version cannot be loaded")
        return text

    def predict(self, query_params):
        # "predictions" is a counter of the scores API: as a gauge, the front refuses it (logged once)
        self.metrics.gauge("predictions", 1)
        return {"answer": self.client.get_model(None, query_params.get("version", "latest"))}
'''


def wait_for_metrics(s, check, timeout=10):
    """Polls GET /metrics until check(text) holds (METRICS frames arrive every ~100 ms)."""
    deadline = time.time() + timeout
    while True:
        text = s.get("/metrics").text
        if check(text):
            return text
        if time.time() > deadline:
            raise AssertionError(f"/metrics did not reach the expected state in {timeout}s:\n{text}")
        time.sleep(0.1)


def add_version(models, version, text):
    staging = pathlib.Path(models) / f".{version}.tmp"
    staging.mkdir(parents=True)
    (staging / "model.txt").write_text(text)
    staging.rename(pathlib.Path(models) / str(version))


def test_predictor_and_model_load_metrics(serve):
    s = serve({"cortex.yaml": YAML, "scores.py": SCORES, "texts.py": TEXTS,
               "models/1/model.txt": "one", "models/2/model.txt": "boom"})
    for label, score in (("cat", 0.5), ("cat", 2.0), ("dog", 7.0)):
        assert s.post("/scores", json={"label": label, "score": score}).status_code == 200
    r = s.post("/scores", json={"bad_tag": True, "label": "x", "score": 1})
    assert r.status_code == 500
    s.wait_for_log("ValueError: tag name 'api' is reserved")

    def settled(text):
        return (value(text, "score_count", api="scores", label="dog") == 1
                and value(text, "cortex_model_loads_total", api="texts", model="_cortex_default", version="2",
                          outcome="error") == 1)
    text = wait_for_metrics(s, settled)
    assert value(text, "predictions_total", api="scores", label="cat") == 2
    assert value(text, "predictions_total", api="scores", label="dog") == 1
    assert value(text, "payload_bytes_total", api="scores") > 0
    assert value(text, "scores_ready", api="scores") == 1
    assert value(text, "last_score", api="scores", label="cat") == 2.0
    assert value(text, "score_count", api="scores", label="cat") == 2
    assert value(text, "score_sum", api="scores", label="cat") == 2.5
    assert value(text, "score_bucket", api="scores", label="cat", le="1.0") == 1
    assert value(text, "score_bucket", api="scores", label="cat", le="+Inf") == 2
    assert "# HELP predictions_total Recorded by the predictor of api scores.\n" in text
    assert "# TYPE predictions_total counter\n" in text
    assert "# TYPE last_score gauge\n" in text
    assert "# TYPE score histogram\n" in text
    # the refused call recorded nothing: no series with a second api label, nothing under another api
    assert not any(name.startswith("predictions") and dict(labels).get("api") != "scores"
                   for name, labels in samples(text))

    # model loads: the initial ones (1 ok, 2 failed), then a live-reload load
    assert value(text, "cortex_model_loads_total", api="texts", model="_cortex_default", version="1",
                 outcome="ok") == 1
    # version 2 failed to load, so "latest" is the highest loaded one
    assert s.post("/texts", json={}).json() == {"answer": "one"}
    assert s.post("/texts?version=2", json={}).status_code == 500
    add_version(s.project / "models", 3, "three")
    text = wait_for_metrics(s, lambda t: value(t, "cortex_model_loads_total", api="texts", model="_cortex_default",
                                               version="3", outcome="ok") == 1, timeout=20)
    assert value(text, "cortex_model_load_seconds_count", api="texts", model="_cortex_default") == 2
    assert value(text, "cortex_model_load_seconds_bucket", api="texts", model="_cortex_default", le="+Inf") == 2
    assert "# HELP cortex_model_loads_total Model version loads" in text
    assert "# TYPE cortex_model_load_seconds histogram\n" in text
    assert s.post("/texts", json={}).json() == {"answer": "three"}

    # a name used as a counter by one API and a gauge by another: refused, logged once
    s.wait_for_log("metric predictions is a counter; recording it as a gauge is refused")
    assert s.stderr().count("recording it as a gauge is refused") == 1
    assert not any(name == "predictions" for name, _ in samples(text))

    assert_promtool_accepts(text)
    # the workers are still the ones that started: nothing above crashed them
    assert value(text, "cortex_worker_restarts_total", api="scores") in (None, 0)
    assert value(text, "cortex_worker_restarts_total", api="texts") in (None, 0)


FORGER = '''
import gc, json
from cortex_worker import protocol as P

class PythonPredictor:
    def predict(self, payload):
        # fault injection: write METRICS frames straight to the worker's socket, as a broken runtime would
        worker = next(o for o in gc.get_objects() if type(o).__name__ == "Worker" and hasattr(o, "send_locked"))
        for meta in payload["metas"]:
            worker.send_locked(P.encode_frame(P.METRICS, 0, meta.encode()))
        return {}
'''

FORGER_YAML = """
- name: forger
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
"""


def test_malformed_metrics_frames_are_logged_once_and_ignored(serve):
    s = serve({"cortex.yaml": FORGER_YAML, "predictor.py": FORGER})
    good = json.dumps({"metrics": [{"kind": "gauge", "name": "forged_ok", "value": 4, "tags": {}}]})
    metas = ["not json", '{"metrics": [{"kind": "timer", "name": "x", "value": 1}]}',
             '{"metrics": [{"kind": "gauge", "name": "x", "value": "1"}]}', good,
             json.dumps({"metrics": [{"kind": "counter", "name": "forged_bad", "value": -5},
                                     {"kind": "counter", "name": "cortex_requests_total", "value": 1000}]})]
    for _ in range(2):
        assert s.post("/forger", json={"metas": metas}).status_code == 200
    text = wait_for_metrics(s, lambda t: value(t, "forged_ok", api="forger") == 4)
    s.wait_for_log("sent a malformed METRICS frame")
    s.wait_for_log("counter forged_bad: increment by -5.0; a counter only goes up")
    s.wait_for_log("metric name \"cortex_requests_total\" is reserved")
    assert s.stderr().count("malformed METRICS frame") == 1
    assert s.stderr().count("forged_bad") == 1
    assert value(text, "cortex_requests_total", api="forger", code="2XX") <= 2
    assert "forged_bad" not in text
    # the worker was not dropped: it still serves, nothing restarted
    assert s.post("/forger", json={"metas": []}).status_code == 200
    assert value(s.get("/metrics").text, "cortex_worker_restarts_total", api="forger") in (None, 0)
