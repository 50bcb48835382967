"""HTTP/1.x connection semantics over raw sockets (RFC 9112 §9.3): when the connection persists after
a response, when the server closes it, and what the response says about it."""
import socket
import time

import pytest

ECHO = {
    "cortex.yaml": """
        - name: echo
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
    """,
    "predictor.py": """
        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                return payload
    """,
}


def post(version, body=b'{"n": 1}', headers=""):
    return (f"POST /echo HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def exchange(port, data, expect_responses, wait=1.5):
    """Sends `data`, reads until `expect_responses` responses arrived and then `wait` seconds more (or the
    server closes). Returns ([(status, headers, body)], closed_by_server)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(data)
    sock.settimeout(0.1)
    buffer = b""
    closed = False
    responses = []
    deadline = time.monotonic() + 10
    quiet_until = None
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            chunk = None
        if chunk == b"":
            closed = True
            break
        if chunk:
            buffer += chunk
        while b"\r\n\r\n" in buffer:
            head, rest = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, value = line.split(":", 1)
                headers.setdefault(name.strip().lower(), []).append(value.strip())
            length = int(headers.get("content-length", ["0"])[0])
            if len(rest) < length:
                break
            responses.append((int(lines[0].split()[1]), headers, rest[:length]))
            buffer = rest[length:]
        if len(responses) >= expect_responses and quiet_until is None:
            quiet_until = time.monotonic() + wait
        if quiet_until is not None and time.monotonic() >= quiet_until:
            break
    sock.close()
    return responses, closed


CASES = [
    # (name, request bytes, responses expected, connection closed by the server, "Connection: close" on the last)
    ("HTTP/1.0 without keep-alive closes", post("1.0"), 1, True, True),
    ("HTTP/1.0 with keep-alive persists", post("1.0", b'{"n": 1}', "Connection: keep-alive\r\n")
     + post("1.0", b'{"n": 2}', "Connection: keep-alive\r\n"), 2, False, False),
    ("HTTP/1.1 persists by default", post("1.1"), 1, False, False),
    ("HTTP/1.1 with Connection: close closes", post("1.1", headers="Connection: close\r\n"), 1, True, True),
    ("pipelined HTTP/1.1 requests are answered in order", post("1.1", b'{"n": 1}') + post("1.1", b'{"n": 2}')
     + post("1.1", b'{"n": 3}'), 3, False, False),
    ("a request after Connection: close is not answered",
     post("1.1", headers="Connection: close\r\n") + post("1.1", b'{"n": 2}'), 1, True, True),
    ("a request after an HTTP/1.0 request without keep-alive is not answered", post("1.0") + post("1.1"), 1, True,
     True),
    ("HTTP/1.0 GET /healthz closes", b"GET /healthz HTTP/1.0\r\n\r\n", 1, True, True),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from cortex_e2e import Server, write_project
    project = write_project(tmp_path_factory.mktemp("semantics") / "project", ECHO)
    server = Server(project).start()
    yield server
    server.stop()


@pytest.mark.parametrize("name,data,count,closes,marked", CASES, ids=[c[0] for c in CASES])
def test_connection_semantics(server, name, data, count, closes, marked):
    responses, closed = exchange(server.port, data, count)
    assert len(responses) == count, responses
    assert all(status == 200 for status, _, _ in responses)
    if data.startswith(b"POST"):
        assert [body for _, _, body in responses] == [b'{"n": %d}' % (i + 1) for i in range(count)]
    assert closed == closes
    connection = [value.lower() for value in responses[-1][1].get("connection", [])]
    assert ("close" in connection) == marked
