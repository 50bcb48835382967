"""End to end: a real `python -m cortex_worker` process on a real Unix socket, this test playing the
front (conftest.Front)."""
from __future__ import annotations

import json
import os
import time

import pytest

from worker_harness import P

ECHO = """
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
"""


# --------------------------------------------------------------------------- handshake, payloads

def test_hello_ready_json_echo_and_shutdown(front):
    w = front(ECHO)
    assert w.hello_meta == {"worker": 3, "pid": w.proc.pid}
    assert w.ready == (P.READY, 0, b"{}", b"")
    doc = {"text": "machine learning is", "n": [1, 2.5, None, True], "é": "ü"}
    r = w.json(doc)
    assert r.started and r.status == 200 and r.outcome == 0
    assert r.raw_headers == [(b"content-type", b"application/json")]
    assert r.body == json.dumps(doc).encode()
    # JSON in UTF-16 is auto-detected like json.loads(bytes)
    r = w.call(json.dumps(doc).encode("utf-16"))
    assert r.json() == doc
    # leading/trailing whitespace, scalars
    assert w.call(b"  [1, 2]\n").json() == [1, 2]
    assert w.call(b"3.5").json() == 3.5
    assert w.shutdown() == 0


def test_bytes_payload_all_values_and_5mib_exact(front):
    w = front(ECHO)
    every = bytes(range(256))
    r = w.call(every, kind=P.PAYLOAD_BYTES)
    assert (r.status, r.outcome, r.body) == (200, 0, every)
    assert r.headers["content-type"] == "application/octet-stream"
    big = os.urandom(5 << 20)
    r = w.call(big, kind=P.PAYLOAD_BYTES)
    assert r.status == 200 and len(r.body) == len(big) and r.body == big
    empty = w.call(b"", kind=P.PAYLOAD_BYTES)
    assert (empty.status, empty.body) == (200, b"")
    assert w.shutdown() == 0


def test_form_with_text_and_file_parts(front):
    w = front("""
        from starlette.datastructures import FormData, UploadFile

        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                assert isinstance(payload, FormData)
                image = payload["image"]
                assert isinstance(image, UploadFile)
                return {"key": payload["key"], "keys": payload.getlist("key"), "text_type": type(payload["key"]).__name__,
                        "data": image.file.read().hex(), "filename": image.filename,
                        "content_type": image.content_type, "size": image.size,
                        "order": [k for k, _ in payload.multi_items()]}
    """)
    data = "valueé".encode() + bytes([0, 255, 10])
    parts = [
        dict(is_file=0, name="key", filename="", content_type="", offset=0, length=len("valueé".encode())),
        dict(is_file=1, name="image", filename="café.png", content_type="image/png", offset=7, length=3),
        dict(is_file=0, name="key", filename="", content_type="", offset=0, length=5),
    ]
    r = w.call(data, kind=P.PAYLOAD_FORM, parts=parts,
               headers=[("content-type", "multipart/form-data; boundary=b")])
    assert r.status == 200, r
    assert r.json() == {"key": "value", "keys": ["valueé", "value"], "text_type": "str", "data": "00ff0a",
                        "filename": "café.png", "content_type": "image/png", "size": 3,
                        "order": ["key", "image", "key"]}
    # a part outside the body is refused before predict
    bad = w.call(b"ab", kind=P.PAYLOAD_FORM, parts=[dict(is_file=0, name="k", filename="", content_type="",
                                                         offset=0, length=10)])
    assert (bad.status, bad.outcome, bad.started) == (400, 1, False)
    assert bad.headers["content-type"] == "application/json"
    assert "error" in json.loads(bad.body)


def test_query_params_and_headers(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, query_params, headers):
                return {"q": query_params.multi_items(), "a": query_params.getlist("a"), "b": query_params["b"],
                        "multi": headers.getlist("x-multi"), "last": headers["X-Multi"], "host": headers["host"],
                        "raw": [[k.decode(), v.decode()] for k, v in headers.raw], "type": type(headers).__name__,
                        "qtype": type(query_params).__name__}
    """)
    r = w.call(b"ignored: not JSON, but predict takes no payload", query="a=1&b=%20x&a=2&e=%C3%A9&empty=",
               headers=[("host", "api-x:8888"), ("x-multi", "1"), ("x-multi", "2")])
    assert r.status == 200, r
    assert r.json() == {
        "q": [["a", "1"], ["b", " x"], ["a", "2"], ["e", "é"], ["empty", ""]], "a": ["1", "2"], "b": " x",
        "multi": ["1", "2"], "last": "1", "host": "api-x:8888",
        "raw": [["host", "api-x:8888"], ["x-multi", "1"], ["x-multi", "2"]],
        "type": "Headers", "qtype": "QueryParams"}


# --------------------------------------------------------------------------- responses

RESPONSES = """
import asyncio
import enum
from starlette.background import BackgroundTask
from starlette.responses import Response, JSONResponse, StreamingResponse, FileResponse, PlainTextResponse

class CSV(Response):
    media_type = "text/csv"

class Label(str, enum.Enum):
    A = "label a"

def gen():
    yield "a,"
    yield b"b\\n"

async def agen():
    for i in range(3):
        await asyncio.sleep(0)
        yield f"{i};"

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, query_params):
        k = query_params["kind"]
        if k == "dict":
            return {"a": 1, "b": [1, 2]}
        if k == "list":
            return [1, "two", 3.0]
        if k == "float":
            return 0.1
        if k == "nan":
            return float("nan")
        if k == "none":
            return None
        if k == "str":
            return "class 1 é"
        if k == "strenum":
            return Label.A
        if k == "bytes":
            return b"\\x00\\x01"
        if k == "bytearray":
            return bytearray(b"xyz")
        if k == "subclass":
            r = CSV("a,b\\n1,2\\n", status_code=201, headers={"X-Custom": "yes"})
            r.set_cookie("c1", "v1")
            r.set_cookie("c2", "v2")
            return r
        if k == "plain":
            return Response(content="class 1", media_type="text/plain")
        if k == "json":
            return JSONResponse({"x": [1, 2]}, status_code=202)
        if k == "stream":
            return StreamingResponse(gen(), media_type="text/csv", headers={"x-s": "1"})
        if k == "astream":
            return StreamingResponse(agen(), status_code=206)
        if k == "file":
            return FileResponse("data.txt")
        if k == "background":
            return PlainTextResponse("bg", background=BackgroundTask(open("background.done", "w").close))
        if k == "unserialisable":
            return {"x": object()}
        if k == "circular":
            a = []
            a.append(a)
            return a
        raise AssertionError(k)
"""


def test_response_types(front):
    w = front(RESPONSES, files={"data.txt": "file contents\n"})

    def get(kind):
        r = w.call(query=f"kind={kind}")
        assert r.started
        return r

    r = get("dict")
    assert (r.status, r.outcome, r.body, r.headers) == (200, 0, b'{"a": 1, "b": [1, 2]}',
                                                         {"content-type": "application/json"})
    assert get("list").body == b'[1, "two", 3.0]'
    assert get("float").body == b"0.1"
    assert get("nan").body == b"NaN"
    r = get("none")
    assert (r.status, r.body, r.headers["content-type"]) == (200, b"null", "application/json")
    r = get("str")
    assert (r.status, r.body, r.raw_headers) == (200, "class 1 é".encode(),
                                                 [(b"content-type", b"text/plain; charset=utf-8")])
    assert get("strenum").body == b"label a"
    r = get("bytes")
    assert (r.status, r.body, r.raw_headers) == (200, b"\x00\x01", [(b"content-type", b"application/octet-stream")])
    assert get("bytearray").body == b"xyz"

    r = get("subclass")
    assert (r.status, r.outcome, r.body) == (201, 0, b"a,b\n1,2\n")
    assert r.raw_headers[:3] == [(b"x-custom", b"yes"), (b"content-length", b"8"),
                                 (b"content-type", b"text/csv; charset=utf-8")]
    assert [v for k, v in r.raw_headers if k == b"set-cookie"] == [
        b"c1=v1; Path=/; SameSite=lax", b"c2=v2; Path=/; SameSite=lax"]
    r = get("plain")
    assert (r.status, r.body, r.headers["content-type"]) == (200, b"class 1", "text/plain; charset=utf-8")
    r = get("json")
    assert (r.status, r.body, r.headers["content-type"]) == (202, b'{"x":[1,2]}', "application/json")
    r = get("stream")
    assert (r.status, r.body, r.headers["content-type"], r.headers["x-s"]) == (
        200, b"a,b\n", "text/csv; charset=utf-8", "1")
    r = get("astream")
    assert (r.status, r.body) == (206, b"0;1;2;")
    r = get("file")
    assert (r.status, r.body) == (200, b"file contents\n")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-length"] == "14" and "etag" in r.headers

    assert get("background").body == b"bg"
    _wait_for(w.project / "background.done")

    r = get("unserialisable")
    assert (r.status, r.outcome) == (500, 2)
    assert b"TypeError: Object of type object is not JSON serializable" in r.body
    r = get("circular")
    assert (r.status, r.outcome) == (500, 2)
    # the encoder is fine afterwards
    assert get("dict").body == b'{"a": 1, "b": [1, 2]}'
    assert w.shutdown() == 0


def test_http_exception_passthrough(front):
    w = front("""
        from starlette.exceptions import HTTPException

        class Teapot(HTTPException):
            pass

        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                if payload == "sub":
                    raise Teapot(status_code=418, detail={"short": "and stout"})
                raise HTTPException(status_code=404, detail="no such thing",
                                    headers={"X-Extra": "1", "Retry-After": "5"})
    """)
    r = w.json("plain")
    assert (r.status, r.outcome, r.body, r.started) == (404, 3, b"no such thing", True)
    assert r.raw_headers == [(b"content-type", b"text/plain; charset=utf-8"), (b"x-extra", b"1"),
                             (b"retry-after", b"5")]
    r = w.json("sub")
    assert (r.status, r.outcome, r.body) == (418, 3, b"{'short': 'and stout'}")
    assert "Traceback" not in w.stderr


def test_predictor_exception_is_outcome_2_and_the_worker_keeps_serving(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                if payload.get("fail"):
                    return self.helper(payload)
                return {"ok": True}

            def helper(self, payload):
                raise ValueError("boom\\nsecond line")
    """)
    rid = w.send_request(b'{"fail": true}', rid=0x1122334455667788)
    r = w.wait_response(rid)
    assert (r.status, r.outcome, r.started) == (500, 2, True)
    assert r.raw_headers == []
    assert r.body == b"ValueError: boom second line (predictor.py, line 12)"
    assert b"\n" not in r.body
    assert w.json({}).json() == {"ok": True}
    err = w.stderr
    assert "1122334455667788 predict raised ValueError: boom" in err
    assert "1122334455667788 Traceback (most recent call last):" in err
    assert '1122334455667788   File "' in err and "in helper" in err


def test_malformed_json_is_400_without_calling_predict(front, tmp_path):
    w = front("""
        import os

        class PythonPredictor:
            def __init__(self, config):
                self.calls = 0

            def predict(self, payload):
                self.calls += 1
                with open("calls.log", "a") as f:
                    f.write("called\\n")
                return {"calls": self.calls}
    """)
    r = w.call(b'{"a": ')
    assert (r.status, r.outcome, r.started) == (400, 1, False)
    assert r.headers == {"content-type": "application/json"}
    assert r.json() == {"error": "Expecting value: line 1 column 7 (char 6)"}
    r = w.call(b"")
    assert r.json() == {"error": "Expecting value: line 1 column 1 (char 0)"}
    r = w.call(b'{"a": 1} trailing')
    assert (r.status, r.outcome) == (400, 1) and "Extra data" in r.json()["error"]
    # nested too deep
    r = w.call(b"[" * 200000 + b"]" * 200000)
    assert (r.status, r.outcome) == (400, 1) and "recursion" in r.json()["error"]
    # invalid UTF-8
    r = w.call(b'{"a": "\xff\xfe\xfd"}')
    assert (r.status, r.outcome) == (400, 1) and "utf-8" in r.json()["error"]
    assert not (w.project / "calls.log").exists()
    assert w.json({"fine": 1}).json() == {"calls": 1}
    assert (w.project / "calls.log").read_text() == "called\n"


# --------------------------------------------------------------------------- loading and validation

def _failed(w):
    kind, rid, meta, body = w.recv()
    assert kind == P.FAILED and rid == 0, (kind, meta)
    info = json.loads(meta)
    assert w.wait_exit() == 1
    return info


def test_unsupported_parameter_fails_naming_the_method(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload, foo):
                return payload
    """, wait=False)
    info = _failed(w)
    assert info["error"] == ("PythonPredictor.predict: 'foo' is not a supported argument; "
                             "supported: payload, query_params, headers")
    assert "Traceback" in info["traceback"]
    assert "'foo' is not a supported argument" in w.stderr


@pytest.mark.parametrize("source,needle", [
    ("class PythonPredictor:\n    def __init__(self, config, model):\n        pass\n"
     "    def predict(self, payload):\n        pass\n",
     "PythonPredictor.__init__: 'model' is not a supported argument; supported: config, python_client, metrics_client"),
    ("class PythonPredictor:\n    def __init__(self, config):\n        pass\n"
     "    def predict(self, payload):\n        pass\n    def post_predict(self, result):\n        pass\n",
     "PythonPredictor.post_predict: 'result' is not a supported argument; "
     "supported: response, payload, query_params, headers"),
    ("class PythonPredictor:\n    def __init__(self, config):\n        pass\n",
     "PythonPredictor (predictor.py): the required method predict is not defined"),
])
def test_other_contract_violations(front, source, needle):
    w = front(source, wait=False)
    assert needle in _failed(w)["error"]


def test_syntax_error_names_file_and_line(front):
    w = front("class PythonPredictor:\n    def predict(self, payload)\n        return 1\n", wait=False)
    info = _failed(w)
    assert info["error"].startswith("SyntaxError: ")
    assert info["error"].endswith("(predictor.py, line 2)")
    assert "SyntaxError" in info["traceback"]
    assert "SyntaxError" in w.stderr


def test_missing_class_names_file_and_expected_class(front):
    w = front("class Predictor:\n    def predict(self, payload):\n        return 1\n", wait=False)
    err = _failed(w)["error"]
    assert "predictor.py" in err and "PythonPredictor" in err
    w2 = front("class PythonPredictor:\n    def predict(self, payload):\n        return 1\n",
               predictor_type="onnx", wait=False)
    err = _failed(w2)["error"]
    assert "ONNXPredictor" in err and "found PythonPredictor" in err


def test_constructor_raising_fails_with_location(front):
    w = front("""
        import os

        class PythonPredictor:
            def __init__(self, config):
                self.model = self.load(config["model"])

            def load(self, name):
                raise FileNotFoundError(f"no model {name}")

            def predict(self, payload):
                return 1
    """, config={"model": "m.bin"}, wait=False)
    info = _failed(w)
    assert info["error"] == "FileNotFoundError: no model m.bin (predictor.py, line 9)"
    assert 'in load' in info["traceback"] and "FileNotFoundError" in info["traceback"]
    assert "no model m.bin" in w.stderr


def test_import_error_in_helper_module_points_at_user_code(front):
    w = front("import helper\nclass PythonPredictor:\n    def predict(self):\n        return 1\n",
              files={"helper.py": "x = 1\ny = 1 / 0\n"}, wait=False)
    assert _failed(w)["error"] == "ZeroDivisionError: division by zero (helper.py, line 2)"


def test_class_without_init_and_path_and_cwd(front):
    w = front("""
        import os, sys
        import helper

        class PythonPredictor:
            def predict(self):
                with open("values.json") as f:
                    values = f.read()
                return {"cwd": os.getcwd(), "values": values, "helper": helper.VALUE,
                        "module": __name__, "first_path": sys.path[0]}
    """, files={"values.json": '{"k": 1}', "helper.py": "VALUE = 42\n"})
    r = w.call(b"")
    assert r.status == 200, r
    assert r.json() == {"cwd": str(w.project), "values": '{"k": 1}', "helper": 42, "module": "cortex_predictor",
                        "first_path": str(w.project)}


def test_config_is_a_deep_copy_and_module_code_runs_once(front):
    w = front("""
        import os
        with open("module-runs.log", "a") as f:
            f.write(f"{os.getpid()}\\n")
        RUNS = []
        RUNS.append(1)

        class PythonPredictor:
            def __init__(self, config, python_client):
                assert python_client is None
                self.original = {"nested": dict(config["nested"]), "list": list(config["list"])}
                config["nested"]["x"] = "changed"
                config["list"].append(99)
                self.config = config

            def predict(self, payload):
                import cortex_predictor
                return {"config": self.config, "original": self.original, "runs": len(RUNS),
                        "same_module": cortex_predictor.RUNS is RUNS}
    """, config={"nested": {"x": 1}, "list": [1, 2]}, threads=2)
    for _ in range(3):
        r = w.call(b"", kind=P.PAYLOAD_BYTES)
    assert r.json() == {"config": {"nested": {"x": "changed"}, "list": [1, 2, 99]},
                        "original": {"nested": {"x": 1}, "list": [1, 2]}, "runs": 1, "same_module": True}
    assert (w.project / "module-runs.log").read_text() == f"{w.proc.pid}\n"


def test_loader_passes_a_deep_copy_of_config(tmp_path):
    from cortex_worker.loader import Spec, load
    (tmp_path / "predictor.py").write_text(
        "class PythonPredictor:\n"
        "    def __init__(self, config):\n"
        "        config['nested']['x'] = 2\n"
        "        self.config = config\n"
        "    def predict(self, payload):\n"
        "        return payload\n")
    spec = Spec.from_json_obj({"project_dir": str(tmp_path), "config": {"nested": {"x": 1}}, "unknown_key": 1})
    loaded = load(spec)
    assert spec.config == {"nested": {"x": 1}}
    assert loaded.instance.config == {"nested": {"x": 2}}
    assert loaded.predict_args == ("payload",) and loaded.post_predict is None


def test_tensorflow_predictor_gets_a_none_client_for_now(front):
    w = front("""
        class TensorFlowPredictor:
            def __init__(self, tensorflow_client, config):
                self.client = tensorflow_client
                self.config = config

            def predict(self, payload, batch_id):
                return {"client": repr(self.client), "batch_id": batch_id, "config": self.config}
    """, predictor_type="tensorflow", config={"k": "v"})
    assert w.call(b"", kind=P.PAYLOAD_BYTES).json() == {"client": "None", "batch_id": None, "config": {"k": "v"}}


def test_stdout_is_unbuffered_and_logging_goes_to_stderr(front):
    w = front("""
        import logging
        logging.getLogger("mine").info("loading at INFO")

        class PythonPredictor:
            def __init__(self, config):
                print("init says hi")

            def predict(self, payload):
                print("predict", payload, end="")
                logging.info("served %s", payload)
                return 1
    """)
    w.json("x")
    # read while the worker is still running: nothing may sit in a buffer
    assert w.stdout == "init says hi\npredict x"
    err = w.stderr
    assert "INFO:mine: loading at INFO" in err and "INFO:root: served x" in err
    assert w.proc.poll() is None


def test_user_logging_configuration_wins(front):
    w = front("""
        import logging, sys
        logging.basicConfig(level=logging.WARNING, format="USER %(message)s", stream=sys.stderr)

        class PythonPredictor:
            def predict(self):
                logging.info("hidden")
                logging.warning("shown")
                return 1
    """)
    w.call(b"")
    w.shutdown()
    err = w.stderr
    assert "USER shown" in err and "hidden" not in err and "WARNING:root" not in err


# --------------------------------------------------------------------------- post_predict

POST = """
import os, time, json

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"echo": payload} if payload != "bytes" else b"raw"

    def post_predict(self, response, payload):
        if payload == "raise":
            raise RuntimeError("post_predict failure")
        if payload == "slow":
            time.sleep(0.5)
        if payload == "gated":
            deadline = time.time() + 10
            while not os.path.exists("go") and time.time() < deadline:
                time.sleep(0.01)
        with open(f"post-{payload}.json.tmp", "w") as f:  # renamed into place: the test never reads half a file
            json.dump({"type": type(response).__name__, "response": repr(response), "gate": os.path.exists("go")}, f)
        os.replace(f"post-{payload}.json.tmp", f"post-{payload}.json")
"""


def test_post_predict_runs_after_the_response_with_the_raw_value(front):
    w = front(POST)
    r = w.json("gated")  # post_predict blocks until "go" exists: the response must not wait for it
    assert r.json() == {"echo": "gated"}
    assert not (w.project / "post-gated.json").exists()
    (w.project / "go").write_text("")
    r = w.json("bytes")  # served after the gated post_predict finished
    assert r.body == b"raw"
    done = json.loads((w.project / "post-gated.json").read_text())
    assert done == {"type": "dict", "response": "{'echo': 'gated'}", "gate": True}
    _wait_for(w.project / "post-bytes.json")
    assert json.loads((w.project / "post-bytes.json").read_text())["type"] == "bytes"


def test_post_predict_exception_is_logged_and_the_worker_survives(front):
    w = front(POST)
    rid = w.send_request(json.dumps("raise").encode(), rid=0xABC)
    assert w.wait_response(rid).status == 200
    assert w.json("after").json() == {"echo": "after"}
    err = w.stderr
    assert "0000000000000abc post_predict raised RuntimeError: post_predict failure (predictor.py, line 13)" in err
    assert "0000000000000abc Traceback" in err
    assert w.shutdown() == 0


def test_shutdown_waits_for_pending_post_predict(front):
    w = front(POST)
    t0 = time.monotonic()
    r = w.json("slow")
    assert r.status == 200
    assert w.shutdown() == 0
    assert time.monotonic() - t0 >= 0.5
    assert (w.project / "post-slow.json").exists()


def test_shutdown_with_threads_finishes_requests_and_post_predicts(front):
    w = front(POST, threads=3)
    rids = [w.send_request(json.dumps("slow").encode()) for _ in range(3)]
    w.send(P.SHUTDOWN)
    for rid in rids:
        assert w.wait_response(rid).status == 200
    assert w.wait_exit() == 0
    assert (w.project / "post-slow.json").exists()


def test_eof_finishes_and_exits_zero(front):
    w = front(POST)
    w.json("slow")
    w.conn.close()
    assert w.wait_exit() == 0
    assert (w.project / "post-slow.json").exists()


def _wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


# --------------------------------------------------------------------------- concurrency, cancel

SLOW = """
import time, threading

CALLS = []

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        CALLS.append(payload["id"])
        time.sleep(payload.get("sleep", 0))
        return {"id": payload["id"], "calls": list(CALLS), "thread": threading.current_thread().name}
"""


def test_four_threads_run_four_slow_predicts_concurrently(front):
    w = front(SLOW, threads=4)
    t0 = time.monotonic()
    rids = [w.send_request(json.dumps({"id": i, "sleep": 0.6}).encode()) for i in range(4)]
    results = [w.wait_response(rid) for rid in rids]
    elapsed = time.monotonic() - t0
    assert all(r.status == 200 and r.started for r in results)
    assert elapsed < 1.5, elapsed  # serially it would be 2.4 s
    assert len({r.json()["thread"] for r in results}) == 4


def test_one_thread_serves_in_order_with_start_before_each_response(front):
    w = front(SLOW)
    payloads = [json.dumps({"id": i}).encode() for i in range(50)]
    meta = P.encode_request_meta(P.PAYLOAD_JSON)
    w.conn.sendall(b"".join(P.encode_frame(P.REQUEST, 100 + i, meta, p) for i, p in enumerate(payloads)))
    seen = []
    for _ in range(100):
        kind, rid, _, body = w.recv()
        seen.append((kind, rid))
    want = []
    for i in range(50):
        want += [(P.START, 100 + i), (P.RESPONSE, 100 + i)]
    assert seen == want


def test_cancel_before_start_skips_predict(front):
    w = front(SLOW)
    r1 = w.send_request(json.dumps({"id": 1, "sleep": 0.3}).encode())
    assert w.recv() == (P.START, r1, b"", b"")
    # while 1 runs: 2 is queued then withdrawn, 3 is queued
    r2 = w.send_request(json.dumps({"id": 2}).encode())
    w.send(P.CANCEL, r2)
    w.send(P.CANCEL, 999)  # unknown: ignored
    r3 = w.send_request(json.dumps({"id": 3}).encode())
    assert w.wait_response(r1).status == 200
    res = w.wait_response(r3)
    assert res.json()["calls"] == [1, 3]
    w.send(P.CANCEL, r3)  # already answered: ignored
    assert w.json({"id": 4}).json()["calls"] == [1, 3, 4]
    assert not any(f[1] == r2 for f in w.frames)


def test_cancel_arriving_during_a_long_batch(front):
    """1 and 2 arrive in one read; the CANCEL for 2 arrives while 1 runs."""
    w = front(SLOW)
    meta = P.encode_request_meta(P.PAYLOAD_JSON)
    w.conn.sendall(P.encode_frame(P.REQUEST, 1, meta, json.dumps({"id": 1, "sleep": 0.3}).encode())
                   + P.encode_frame(P.REQUEST, 2, meta, json.dumps({"id": 2}).encode()))
    assert w.recv() == (P.START, 1, b"", b"")
    w.send(P.CANCEL, 2)
    assert w.wait_response(1).status == 200
    assert w.json({"id": 3}).json()["calls"] == [1, 3]


def test_cancel_in_pool_mode(front):
    w = front(SLOW, threads=2)
    a = w.send_request(json.dumps({"id": 1, "sleep": 0.4}).encode())
    b = w.send_request(json.dumps({"id": 2, "sleep": 0.4}).encode())
    starts = {w.recv()[1], w.recv()[1]}
    assert starts == {a, b}
    c = w.send_request(json.dumps({"id": 3}).encode())
    w.send(P.CANCEL, c)
    assert w.wait_response(a).status == 200 and w.wait_response(b).status == 200
    assert sorted(w.json({"id": 4}).json()["calls"]) == [1, 2, 4]


# --------------------------------------------------------------------------- API-to-API

def test_api_hosts_resolve_to_the_front_end_to_end(front):
    import http.server
    import threading

    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen["host"] = self.headers["Host"]
            seen["path"] = self.path
            body = self.rfile.read(int(self.headers["Content-Length"]))
            out = b"front got " + body
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        w = front("""
            import socket, urllib.request

            class PythonPredictor:
                def predict(self, payload):
                    req = urllib.request.Request("http://api-text-generator:8888/predict", data=payload, method="POST")
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        body = resp.read()
                    local = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][0]
                    return {"body": body.decode(), "local": local}
        """, front_port=server.server_address[1])
        r = w.call(b"hello", kind=P.PAYLOAD_BYTES)
        assert r.status == 200, (r, w.stderr)
        assert r.json()["body"] == "front got hello"
        assert r.json()["local"] in ("127.0.0.1", "::1")
        assert seen == {"host": "api-text-generator:8888", "path": "/predict"}
    finally:
        server.shutdown()
        server.server_close()


def test_resolver_hook_unit():
    import socket
    from cortex_worker import resolver

    orig = socket.getaddrinfo
    try:
        resolver.install("127.0.0.1", 45678)
        for host in ("api-foo", "api-text-generator", "api-a1", b"api-foo", "API-Foo"):
            infos = socket.getaddrinfo(host, 8888, socket.AF_INET, socket.SOCK_STREAM)
            assert infos[0][4] == ("127.0.0.1", 45678), host
        assert socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4] == ("127.0.0.1", 80)
        assert socket.getaddrinfo("127.0.0.2", 81, socket.AF_INET, socket.SOCK_STREAM)[0][4] == ("127.0.0.2", 81)
        for host in ("api-", "api-foo-", "apifoo", "api-foo.example", "xapi-foo", "api_foo"):
            assert not resolver.is_api_host(host), host
    finally:
        resolver.uninstall()
    assert socket.getaddrinfo is orig


# --------------------------------------------------------------------------- odds and ends

def test_bad_spec_and_missing_file_fail(front):
    w = front(ECHO, env={"CORTEX_WORKER_SPEC": "{not json"}, wait=False)
    assert "CORTEX_WORKER_SPEC is not valid JSON" in _failed(w)["error"]
    w = front(ECHO, spec={"predictor_path": "nope.py"}, wait=False)
    assert "predictor file nope.py not found" in _failed(w)["error"]
    w = front(ECHO, spec={"predictor_type": "pytorch"}, wait=False)
    assert "unsupported predictor_type 'pytorch'" in _failed(w)["error"]


def test_form_text_part_that_is_not_utf8_is_latin1_as_in_starlette(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                return {"k": payload["k"]}
    """)
    r = w.call(b"\xff\xfe", kind=P.PAYLOAD_FORM,
               parts=[dict(is_file=0, name="k", filename="", content_type="", offset=0, length=2)])
    assert (r.status, r.outcome) == (200, 0)
    assert r.json() == {"k": "\xff\xfe".encode("latin-1").decode("latin-1")}


def test_post_predicts_run_under_sustained_pipelined_load(front):
    w = front("""
        class PythonPredictor:
            def __init__(self, config):
                self.log = open("post.log", "a", buffering=1)

            def predict(self, payload):
                return payload

            def post_predict(self, response, query_params):
                self.log.write(f"{response} {query_params['q']}\\n")
    """)
    meta = P.encode_request_meta(P.PAYLOAD_JSON, "q=x")
    n = 200
    w.conn.sendall(b"".join(P.encode_frame(P.REQUEST, i + 1, meta, str(i).encode()) for i in range(n)))
    for i in range(n):
        assert w.wait_response(i + 1).body == str(i).encode()
    assert w.shutdown() == 0
    assert (w.project / "post.log").read_text().splitlines() == [f"{i} x" for i in range(n)]


def test_async_predict_is_awaited(front):
    w = front("""
        import asyncio

        class PythonPredictor:
            async def predict(self, payload):
                await asyncio.sleep(0.01)
                return {"got": payload}
    """)
    assert w.json(5).json() == {"got": 5}


@pytest.mark.parametrize("threads", [1, 2])
def test_malformed_request_meta_is_answered_and_the_worker_survives(front, threads):
    w = front("""
        class PythonPredictor:
            def predict(self, payload, headers):
                return payload
    """, threads=threads)
    w.send(P.REQUEST, 77, b"", b"{}")  # no meta at all
    r = w.wait_response(77)
    assert r.status in (400, 500) and r.outcome in (1, 2) and not r.started
    w.send(P.REQUEST, 78, b"\x01\x00\x00\x00\xff\xff\x00\x00", b"{}")  # query length past the end
    r = w.wait_response(78)
    assert r.status in (400, 500) and not r.started
    assert w.json([1]).json() == [1]
    assert w.shutdown() == 0
