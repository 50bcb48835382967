"""Request ids and Server-Timing (issue 7, "Request ids and timing"): every response carries
X-Request-ID — the client's own when usable, else a generated one — and the same id is in the log line
and in the headers the predictor receives; Server-Timing reports queue, worker and total durations."""
import re
import socket

from cortex_e2e import ECHO_YAML

PREDICTOR = '''
import time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload, headers):
        if payload.get("raise"):
            raise ValueError("asked to")
        time.sleep(payload.get("sleep", 0))
        return {"seen_id": headers.get("x-request-id"), "ids": headers.getlist("x-request-id")}
'''

GENERATED = re.compile(r"^[0-9a-f]{16}$")


def timing(response):
    parts = {}
    for entry in response.headers["server-timing"].split(","):
        name, _, duration = entry.strip().partition(";dur=")
        parts[name] = float(duration)
    return parts


def request_line(server, request_id):
    return [l for l in server.stderr().splitlines() if f"request_id={request_id} " in l]


def test_generated_id_reaches_predictor_log_and_response(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    r = s.post("/echo", json={})
    assert r.status_code == 200
    request_id = r.headers["x-request-id"]
    assert GENERATED.match(request_id)
    assert r.json() == {"seen_id": request_id, "ids": [request_id]}
    s.wait_for_log(f"request_id={request_id} ")
    assert len(request_line(s, request_id)) == 1


def test_client_id_is_kept_verbatim(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    client_id = "trace-42/abc:DEF=~!"
    r = s.post("/echo", json={}, headers={"X-Request-ID": client_id})
    assert r.headers["x-request-id"] == client_id
    assert r.json() == {"seen_id": client_id, "ids": [client_id]}
    s.wait_for_log(f"request_id={client_id} ")
    # ...also on errors, in the body too
    r = s.post("/echo", json={"raise": True}, headers={"X-Request-ID": "err-1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "err-1" == r.json()["request_id"]


def test_unusable_client_ids_are_replaced(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    for bad in ["x" * 129, "tab\there"]:
        r = s.post("/echo", json={}, headers={"X-Request-ID": bad})
        assert GENERATED.match(r.headers["x-request-id"]), bad
        assert r.json()["ids"] == [r.headers["x-request-id"]]
    # 128 characters is still fine
    r = s.post("/echo", json={}, headers={"X-Request-ID": "y" * 128})
    assert r.headers["x-request-id"] == "y" * 128
    # non-ASCII bytes, sent raw
    body = b"{}"
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-ID: caf\xc3\xa9\r\n"
           b"Content-Length: 2\r\nConnection: close\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header = re.search(rb"(?i)\r\nx-request-id: ([^\r]*)\r\n", answer).group(1).decode()
    assert GENERATED.match(header)


def test_server_timing_splits_queue_and_worker(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    r = s.post("/echo", json={"sleep": 0.2})
    parts = timing(r)
    assert set(parts) == {"queue", "worker", "total"}
    assert parts["worker"] >= 200
    assert parts["queue"] < 100
    assert parts["total"] >= parts["worker"] + parts["queue"] - 1
    # answers the front makes itself carry the total only
    r = s.post("/echo", data=b"{", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400
    assert set(timing(r)) == {"total"}
