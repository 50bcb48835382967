"""A request that cannot be dispatched because no worker of its API is alive gets 503 within the
no-worker timeout (`--no-worker-timeout`), with `Retry-After` and its request id; the API serves
again as soon as a worker is back. A crash loop backs off; a worker killed after serving is
respawned at once."""
import os
import signal
import time

from cortex_e2e import child_pids

PROJECT = {
    "cortex.yaml": """
        - name: flaky
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
    """,
    "predictor.py": """
        import os

        class PythonPredictor:
            def __init__(self, config):
                if os.path.exists("/tmp/MARKER"):
                    raise RuntimeError("refusing to start: marker present")

            def predict(self, payload):
                return {"pid": os.getpid()}
    """,
}


def project(marker):
    return {**PROJECT, "predictor.py": PROJECT["predictor.py"].replace("/tmp/MARKER", str(marker))}


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_no_worker_gets_503_then_serves_again(serve, tmp_path):
    marker = tmp_path / "marker"
    server = serve(project(marker), args=["--no-worker-timeout", "1"])
    assert server.post("/flaky", json={}).status_code == 200
    marker.write_text("x")
    (worker,) = child_pids(server.proc.pid)
    os.kill(worker, signal.SIGKILL)
    started = time.monotonic()
    response = server.post("/flaky", json={})
    waited = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert "no worker of api flaky is available" in body["error"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert 0.9 <= waited < 5, waited
    # The respawns crash (constructor raising): a crash loop, logged as such, with growing delays.
    assert wait_for(lambda: server.stderr().count("crash loop") >= 2, 10), server.stderr()
    marker.unlink()
    assert wait_for(lambda: server.get("/readyz").status_code == 200, 20), server.stderr()
    assert server.post("/flaky", json={}).status_code == 200


def test_a_worker_killed_after_serving_is_respawned_at_once(serve):
    server = serve({**PROJECT, "predictor.py": PROJECT["predictor.py"].replace("/tmp/MARKER", "/nonexistent")})
    for _ in range(5):
        assert server.post("/flaky", json={}).status_code == 200
        (worker,) = child_pids(server.proc.pid)
        os.kill(worker, signal.SIGKILL)
        assert wait_for(lambda: child_pids(server.proc.pid) not in ([], [worker]), 5)
    assert "crash loop" not in server.stderr()
    assert "respawning it" in server.stderr()
    assert server.post("/flaky", json={}).status_code == 200
