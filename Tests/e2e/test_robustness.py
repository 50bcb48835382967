"""Admission, timeouts, clients that go away, slow and hostile clients (issue 4)."""
import concurrent.futures
import os
import socket
import time

import requests

from cortex_e2e import ECHO_YAML, child_pids

SLOW = '''
import os, time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        with open(os.environ["RUN_LOG"], "a") as f:
            f.write(f"start {payload['n']}\\n")
        time.sleep(payload.get("sleep", 0))
        return payload["n"]
'''


def slow_yaml(tmp_path, extra=""):
    return ECHO_YAML + extra + f"    env:\n      RUN_LOG: {tmp_path / 'runs.txt'}\n"


def runs(tmp_path):
    path = tmp_path / "runs.txt"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_admission_limit_answers_503_at_once(serve, tmp_path):
    yaml = slow_yaml(tmp_path) + "  autoscaling:\n    max_replica_concurrency: 3\n"
    s = serve({"cortex.yaml": yaml, "predictor.py": SLOW})
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        held = [pool.submit(s.post, "/echo", json={"n": i, "sleep": 1}) for i in range(3)]
        time.sleep(0.3)
        started = time.time()
        r = s.post("/echo", json={"n": 99})
        assert time.time() - started < 0.5
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["limit"] == 3 and "max_replica_concurrency" in r.json()["error"]
        assert [f.result().status_code for f in held] == [200, 200, 200]
    assert "start 99" not in runs(tmp_path)


def test_timeout_504_and_expired_queued_requests_never_run(serve, tmp_path):
    yaml = slow_yaml(tmp_path, "    timeout: 1\n")
    s = serve({"cortex.yaml": yaml, "predictor.py": SLOW})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(s.post, "/echo", json={"n": 1, "sleep": 2})
        time.sleep(0.2)
        queued = pool.submit(s.post, "/echo", json={"n": 2})
        r1, r2 = running.result(), queued.result()
    assert r1.status_code == 504 and "predictor.timeout" in r1.json()["error"]
    assert r2.status_code == 504
    time.sleep(1.5)
    assert runs(tmp_path) == ["start 1"]
    assert s.post("/echo", json={"n": 3}).json() == 3


def test_a_worker_stuck_past_its_timeout_is_killed_and_respawned(serve, tmp_path):
    yaml = slow_yaml(tmp_path, "    timeout: 0.5\n")
    s = serve({"cortex.yaml": yaml, "predictor.py": SLOW})
    before = child_pids(s.proc.pid)
    r = s.post("/echo", json={"n": 1, "sleep": 3600})
    assert r.status_code == 504
    deadline = time.time() + 20
    while time.time() < deadline:
        after = child_pids(s.proc.pid)
        if after and after != before and s.get("/readyz").status_code == 200:
            break
        time.sleep(0.2)
    assert child_pids(s.proc.pid) != before
    assert s.post("/echo", json={"n": 2}).json() == 2
    assert "still running request" in s.stderr()


def test_a_client_that_leaves_has_its_queued_request_dropped(serve, tmp_path):
    s = serve({"cortex.yaml": slow_yaml(tmp_path), "predictor.py": SLOW})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(s.post, "/echo", json={"n": 1, "sleep": 1.5})
        time.sleep(0.3)
        # A raw client sends a request, then disconnects while it is queued behind the busy one.
        body = b'{"n": 2}'
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.3)
        sock.close()
        assert busy.result().json() == 1
    time.sleep(0.5)
    assert runs(tmp_path) == ["start 1"]


def test_slow_clients_are_cut_off_and_do_not_starve_others(serve, tmp_path):
    s = serve({"cortex.yaml": slow_yaml(tmp_path), "predictor.py": SLOW},
              args=["--header-timeout", "1", "--body-timeout", "1"])
    slow_head = socket.create_connection(("127.0.0.1", s.port))
    slow_head.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
    slow_body = socket.create_connection(("127.0.0.1", s.port))
    slow_body.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    # Others are served meanwhile.
    assert s.post("/echo", json={"n": 5}).json() == 5
    for sock in (slow_head, slow_body):
        sock.settimeout(5)
        started = time.time()
        for _ in range(20):  # trickle: one byte every 0.2 s does not extend the deadline
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
            try:
                sock.setblocking(False)
                if sock.recv(1) == b"":
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        assert time.time() - started < 3.5
        sock.close()


def test_oversized_bodies_get_413(serve, tmp_path):
    yaml = slow_yaml(tmp_path) + "  networking:\n    max_request_size: 1Mi\n"
    s = serve({"cortex.yaml": yaml, "predictor.py": SLOW})
    r = s.post("/echo", data=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and "max_request_size" in r.json()["error"]

    def chunks():
        for _ in range(3):
            yield b"y" * (512 * 1024)
    r = s.post("/echo", data=chunks(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413
    assert s.post("/echo", json={"n": 7}).json() == 7


def test_malformed_http_is_400_and_the_server_goes_on(serve, tmp_path):
    s = serve({"cortex.yaml": slow_yaml(tmp_path), "predictor.py": SLOW})
    for garbage in [b"NOT HTTP AT ALL\r\n\r\n", b"POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                    b"POST /echo HTTP/1.1\r\nBad Header Line\r\n\r\n"]:
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.settimeout(5)
        sock.sendall(garbage)
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400"), (garbage, reply)
        sock.close()
    assert s.post("/echo", json={"n": 8}).json() == 8
