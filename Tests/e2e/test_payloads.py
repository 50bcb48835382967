"""Payloads by Content-Type and responses by return type (issue 2, items 5 and 6)."""
import json

import pytest

from cortex_e2e import ECHO_YAML

INTROSPECT = '''
import json
from starlette.datastructures import FormData, UploadFile


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload, query_params, headers):
        if isinstance(payload, FormData):
            fields = []
            for key, value in payload.multi_items():
                if isinstance(value, UploadFile):
                    data = value.file.read()
                    fields.append({"name": key, "kind": "file", "filename": value.filename,
                                   "content_type": value.content_type, "hex": data.hex()})
                else:
                    fields.append({"name": key, "kind": "str", "value": value})
            return {"type": "form", "fields": fields}
        if isinstance(payload, bytes):
            return {"type": "bytes", "len": len(payload), "hex": payload.hex() if len(payload) < 4096 else None,
                    "sum": sum(payload) % 1000003}
        return {"type": type(payload).__name__, "value": payload,
                "query": list(query_params.multi_items()), "x_multi": headers.getlist("x-multi"),
                "host": headers.get("host")}
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from cortex_e2e import Server, write_project
    project = write_project(tmp_path_factory.mktemp("payloads") / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": INTROSPECT})
    s = Server(project).start()
    yield s
    s.stop()


def test_json_is_parsed(server):
    r = server.post("/echo?a=1&b=%20x&a=2", json={"k": [1, 2.5, None, "é"]},
                    headers={"X-Multi": "1"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["type"] == "dict" and body["value"] == {"k": [1, 2.5, None, "é"]}
    assert body["query"] == [["a", "1"], ["b", " x"], ["a", "2"]]
    assert body["host"] == f"127.0.0.1:{server.port}"


def test_json_with_charset_parameter(server):
    r = server.post("/echo", data='{"x": 1}', headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.json()["value"] == {"x": 1}


def test_repeated_headers_reach_the_predictor(server):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.putrequest("POST", "/echo")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("X-Multi", "1")
    conn.putheader("X-Multi", "2")
    conn.putheader("Content-Length", "2")
    conn.endheaders(b"{}")
    body = json.loads(conn.getresponse().read())
    assert body["x_multi"] == ["1", "2"]


def test_all_byte_values_arrive_exactly(server):
    data = bytes(range(256)) * 3
    r = server.post("/echo", data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.json() == {"type": "bytes", "len": 768, "hex": data.hex(), "sum": sum(data) % 1000003}


def test_no_content_type_and_text_plain_are_bytes(server):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("POST", "/echo", body=b"hello")  # http.client sets no Content-Type
    assert json.loads(conn.getresponse().read())["type"] == "bytes"
    r = server.post("/echo", data=b"\xff\x00text", headers={"Content-Type": "text/plain"})
    assert r.json()["hex"] == "ff0074657874"
    r = server.post("/echo", data=b"", headers={"Content-Type": "application/octet-stream"})
    assert r.json()["len"] == 0


def test_multi_mebibyte_body_is_byte_exact(server):
    data = bytes((i * 7 + i // 251) % 256 for i in range(5 * 1024 * 1024 + 3))
    r = server.post("/echo", data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.json() == {"type": "bytes", "len": len(data), "hex": None, "sum": sum(data) % 1000003}


def test_multipart_form_with_files_and_text(server):
    blob = bytes(range(256)) + b"\r\n--boundary-lookalike\r\n"
    r = server.post("/echo", files={"image": ("pic.png", blob, "image/png"), "empty": ("", b"", "text/plain")},
                    data={"key": "value", "uni": "café"})
    assert r.status_code == 200, r.text
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert fields["key"] == {"name": "key", "kind": "str", "value": "value"}
    assert fields["uni"]["value"] == "café"
    assert fields["image"]["kind"] == "file"
    assert fields["image"]["filename"] == "pic.png"
    assert fields["image"]["content_type"] == "image/png"
    assert bytes.fromhex(fields["image"]["hex"]) == blob


def test_urlencoded_form_gives_strings(server):
    r = server.post("/echo", data={"key": "value", "sp": "a b+c", "e": "é"})
    fields = r.json()["fields"]
    assert fields == [{"name": "key", "kind": "str", "value": "value"},
                      {"name": "sp", "kind": "str", "value": "a b+c"},
                      {"name": "e", "kind": "str", "value": "é"}]


def test_malformed_bodies_are_400_without_calling_the_predictor(server):
    for body, needle in [(b"{bad json", "Expecting"), (b"", "Expecting value"), (b"\xff\xfe\xfa", ""),
                         (b"[" * 100000 + b"]" * 100000, "")]:
        r = server.post("/echo", data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body[:20], r.text)
        assert "error" in r.json() and needle in r.json()["error"]
    r = server.post("/echo", data=b"no boundary", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    r = server.post("/echo", data=b"a=%zz", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "%zz" in r.json()["error"]
    # The server is unharmed.
    assert server.post("/echo", json=1).json()["value"] == 1


RESPONSES = '''
import starlette.responses
from starlette.exceptions import HTTPException


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, query_params):
        kind = query_params["kind"]
        if kind == "list":
            return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        if kind == "float":
            return 3.25
        if kind == "none":
            return None
        if kind == "str":
            return "class 1"
        if kind == "bytes":
            return bytes(range(256))
        if kind == "response":
            return starlette.responses.Response(content="class 1", media_type="text/plain", status_code=201,
                                                headers={"X-Custom": "yes"})
        if kind == "json-response":
            return starlette.responses.JSONResponse({"a": 1}, status_code=202)
        if kind == "http-exception":
            raise HTTPException(status_code=418, detail="I am a teapot")
        if kind == "unserialisable":
            return {1, 2}
        raise RuntimeError("secret traceback detail")
'''


def test_response_types(serve):
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": RESPONSES})

    def get(kind):
        return s.post(f"/echo?kind={kind}", json={})

    r = get("list")
    assert r.json() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] and r.headers["content-type"] == "application/json"
    assert get("float").json() == 3.25
    assert get("none").text == "null"
    r = get("str")
    assert r.text == "class 1" and r.headers["content-type"].startswith("text/plain")
    r = get("bytes")
    assert r.content == bytes(range(256)) and r.headers["content-type"] == "application/octet-stream"
    r = get("response")
    assert (r.status_code, r.text, r.headers["x-custom"]) == (201, "class 1", "yes")
    assert r.headers["content-type"].startswith("text/plain")
    r = get("json-response")
    assert (r.status_code, r.json()) == (202, {"a": 1})
    r = get("http-exception")
    assert (r.status_code, r.text) == (418, "I am a teapot")
    r = get("unserialisable")
    assert r.status_code == 500
    r = get("raise")
    assert r.status_code == 500
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert "secret traceback detail" not in r.text
    # The traceback went to the log, tagged with the request id; the worker keeps serving.
    assert get("list").status_code == 200
    logs = s.stderr()
    assert "secret traceback detail" in logs and r.headers["x-request-id"] in logs
