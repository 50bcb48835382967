"""GET /metrics (issue 7, "Metrics"): Prometheus text from swift-metrics + swift-prometheus, valid for
`promtool check metrics`, with requests by status class, latency histograms, in-flight/queued and worker
gauges, and worker restarts."""
import os
import re
import signal
import time

from cortex_e2e import ECHO_YAML, assert_promtool_accepts, child_pids

PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        if payload.get("raise"):
            raise ValueError("asked to")
        return payload
'''

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def samples(text):
    """{(name, frozenset(labels)): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
        out[(name, pairs)] = float(value)
    return out


def value(text, name, **labels):
    return samples(text).get((name, frozenset(labels.items())))


def test_metrics_count_requests_and_pass_promtool(serve, tmp_path):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    for n in range(5):
        assert s.post("/echo", json={"n": n}).status_code == 200
    assert s.post("/echo", json={"raise": True}).status_code == 500
    assert s.post("/echo", data=b"x", headers={"Content-Type": "multipart/form-data"}).status_code == 400
    r = s.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert value(text, "cortex_requests_total", api="echo", code="2XX") == 5
    assert value(text, "cortex_requests_total", api="echo", code="4XX") == 1
    assert value(text, "cortex_requests_total", api="echo", code="5XX") == 1
    # every prediction is in the total-latency histogram; the 6 a worker ran have queue and worker times
    assert value(text, "cortex_request_duration_seconds_count", api="echo") == 7
    assert value(text, "cortex_request_worker_seconds_count", api="echo") == 6
    assert value(text, "cortex_request_queue_seconds_count", api="echo") == 6
    assert value(text, "cortex_request_duration_seconds_bucket", api="echo", le="+Inf") == 7
    # the sampled gauges appear within a second or two
    deadline = time.time() + 5
    while value(s.get("/metrics").text, "cortex_workers_ready", api="echo") != 1 and time.time() < deadline:
        time.sleep(0.2)
    text = s.get("/metrics").text
    assert value(text, "cortex_workers", api="echo") == 1
    assert value(text, "cortex_workers_ready", api="echo") == 1
    assert value(text, "cortex_in_flight_requests", api="echo") == 0
    assert value(text, "cortex_queued_requests", api="echo") == 0
    assert_promtool_accepts(text)


def test_worker_restarts_are_counted(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    assert s.post("/echo", json={}).status_code == 200
    workers = [pid for pid in child_pids(s.proc.pid)]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.time() + 15
    while time.time() < deadline:
        if value(s.get("/metrics").text, "cortex_worker_restarts_total", api="echo") == 1:
            break
        time.sleep(0.2)
    assert value(s.get("/metrics").text, "cortex_worker_restarts_total", api="echo") == 1
    s.wait_ready()
    assert s.post("/echo", json={}).status_code == 200
