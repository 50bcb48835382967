"""Replicas following load through the local operator: Cortex's autoscaler on a ramp up and down, and
scale to zero (beyond Cortex) with requests waiting for the first replica."""
import re
import threading
import time

import pytest
import requests

from cortex_e2e import write_project

SLOW = """
import time

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        time.sleep(0.2)
        return {"ok": True}
"""


def slow_api(tmp_path, autoscaling):
    """A project whose API `echo` takes 200 ms per request, with these `autoscaling` settings."""
    lines = "".join(f"\n    {line}" for line in autoscaling)
    return write_project(tmp_path / "p", {"predictor.py": SLOW, "cortex.yaml": f"""
- name: echo
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
  autoscaling:{lines}
"""})


def post_concurrently(url, count):
    """`count` POSTs sent at once; their responses."""
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(requests.post(url, json={}, timeout=60)))
               for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def metric(text, name, api="echo"):
    match = re.search(rf'^{name}{{api="{api}"}} ([0-9.e+-]+)$', text, re.M)
    return float(match.group(1)) if match else None


class Clients:
    """`count` threads posting back to back; `count` can change while they run."""

    def __init__(self, url):
        self.url, self.count, self.running, self.failures = url, 0, True, []
        self.threads = []

    def set(self, count):
        self.count = count
        while len(self.threads) < count:
            index = len(self.threads)
            thread = threading.Thread(target=self.run, args=(index,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def run(self, index):
        session = requests.Session()
        while self.running:
            if index >= self.count:
                time.sleep(0.05)
                continue
            response = session.post(self.url, json={}, timeout=60)
            if response.status_code != 200:
                self.failures.append((response.status_code, response.text))

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(60)


def test_replicas_follow_a_load_ramp(operator, tmp_path):
    project = slow_api(tmp_path, [
        "min_replicas: 1", "max_replicas: 4", "target_replica_concurrency: 1", "window: 10s",
        "upscale_stabilization_period: 0s", "downscale_stabilization_period: 10s", "max_upscale_factor: 4"])
    operator.deploy(project)
    clients = Clients(operator.url + "/echo")
    plan = [(0, 0), (4, 6), (44, 1), (64, 0)]  # (second, clients) steps
    rows = []
    started = time.time()
    try:
        while time.time() - started < 100:
            elapsed = time.time() - started
            load = [count for second, count in plan if second <= elapsed][-1]
            if load != clients.count:
                clients.set(load)
            text = requests.get(operator.url + "/metrics", timeout=10).text
            rows.append((elapsed, load, metric(text, "cortex_in_flight_requests"), metric(text, "cortex_replicas")))
            if elapsed > 64 and rows[-1][3] == 1 and max(r[3] or 0 for r in rows) >= 3:
                break
            time.sleep(2)
    finally:
        clients.stop()
    print("\n  time   load   in-flight   replicas")
    for elapsed, load, in_flight, replicas in rows:
        print(f"  {elapsed:4.0f}s  {load:4d}   {in_flight or 0:9.0f}   {replicas or 0:8.0f}")
    assert clients.failures == []
    peak = max(r[3] or 0 for r in rows)
    assert 3 <= peak <= 4, "the replicas should rise towards 6 clients / 1 per replica, capped at 4"
    assert all((r[3] or 0) <= 4 for r in rows)
    assert rows[-1][3] == 1, "back to min_replicas once the load is gone"
    # It rose under load and only came down after it fell.
    first_peak = next(r[0] for r in rows if r[3] == peak)
    assert first_peak < 44


def test_scale_to_zero_buffers_requests_until_the_first_replica(operator, tmp_path):
    project = slow_api(tmp_path, [
        "min_replicas: 0", "max_replicas: 2", "window: 10s", "downscale_stabilization_period: 10s",
        "max_replica_concurrency: 8"])
    operator.deploy(project)
    [api] = operator.get_json()
    assert api["status"]["status_code"] == "status_live"
    assert api["status"]["replica_counts"]["requested"] == 0
    assert requests.get(operator.url + "/readyz", timeout=10).status_code == 200

    # Requests at zero replicas wait for the first one, then every one is answered.
    answers = post_concurrently(operator.url + "/echo", 3)
    assert [a.status_code for a in answers] == [200, 200, 200]
    text = requests.get(operator.url + "/metrics", timeout=10).text
    assert re.search(r'^cortex_cold_start_seconds_count\{api="echo"\} 1$', text, re.M), text

    # Idle: back to zero after the downscale stabilization period.
    deadline = time.time() + 90
    while time.time() < deadline:
        if operator.get_json()[0]["status"]["replica_counts"]["updated"] == 0:
            break
        time.sleep(2)
    else:
        pytest.fail("the idle API did not scale back to zero")
    assert requests.post(operator.url + "/echo", json={}, timeout=60).status_code == 200


def test_requests_waiting_at_zero_are_bounded_by_max_replica_concurrency(operator, tmp_path):
    project = slow_api(tmp_path, ["min_replicas: 0", "max_replicas: 1", "max_replica_concurrency: 2"])
    operator.deploy(project)
    answers = post_concurrently(operator.url + "/echo", 6)
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 2 and statuses.count(503) >= 1, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert "limit of 2 requests" in answer.json()["error"] and answer.headers["retry-after"]
