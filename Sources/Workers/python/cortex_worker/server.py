"""The worker process: handshake, the request loop and response mapping (docs/PROTOCOL.md,
docs/CORTEX-COMPATIBILITY.md §4 and §7).

Hot path (threads_per_process == 1): the reader thread decodes every complete frame of one recv into
a deque and runs the requests inline; a request's START goes out in the same send as the previous
request's RESPONSE, right before its predict begins, and the last RESPONSE of a batch is sent as soon
as it exists. post_predicts (and starlette background tasks) run once the batch is answered, before
the next blocking recv. With more threads, a pool of that many threads takes requests from a queue.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections import deque

from . import protocol as P
from .loader import PredictorError, Spec, UserCode, format_traceback, load, summarize
from .metrics import MetricsBuffer
from .models import ModelError, _write_stderr

_HDR = P.HEADER
_HDR_PACK = _HDR.pack
_HDR_UNPACK = _HDR.unpack_from
_HDR_SIZE = P.HEADER_SIZE
_U32_UNPACK = P.U32.unpack_from
_PART_RANGE_UNPACK = P.PART_RANGE.unpack_from

_REQUEST = P.REQUEST
_RESPONSE = P.RESPONSE
_START = P.START
_CANCEL = P.CANCEL
_BATCH = P.BATCH
_SHUTDOWN = P.SHUTDOWN
_MODELS = P.MODELS

_JSON_CT = b"application/json"
_TEXT_CT = b"text/plain; charset=utf-8"
_OCTET_CT = b"application/octet-stream"


def _resp_meta(status, outcome, headers=()):
    return P.encode_response_meta(status, outcome, headers)


META_JSON = _resp_meta(200, 0, [(b"content-type", _JSON_CT)])
META_TEXT = _resp_meta(200, 0, [(b"content-type", _TEXT_CT)])
META_OCTET = _resp_meta(200, 0, [(b"content-type", _OCTET_CT)])
META_BAD_JSON = _resp_meta(400, 1, [(b"content-type", _JSON_CT)])
META_BAD_FORM = _resp_meta(400, 1, [(b"content-type", _JSON_CT)])
META_RAISED = _resp_meta(500, 2, [])

BUFFER_SIZE = 1 << 20
POLL_INTERVAL = 0.005  # inline mode: look for CANCELs between requests of a long batch this often
MAX_DEFERRED = 16  # inline mode: post_predicts held back while a batch is served, at most
EARLY_FLUSH = 1 << 16  # inline mode: a request body this big is parsed only after the pending RESPONSE went out

_json_loads = json.loads
_json_dumps = json.dumps


def make_json_codec():
    """(loads, dumps) with exactly json.loads(bytes)/json.dumps(obj) semantics and errors, minus
    the per-call Python overhead: the C scanner/encoder objects are made once. One codec per thread
    (the encoder's circular-reference markers are reused between calls)."""
    import json.decoder
    import json.encoder
    import json.scanner
    c_scanner = getattr(json.scanner, "c_make_scanner", None)
    c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_scanner is None or c_encoder is None:
        return _json_loads, _json_dumps
    scan = c_scanner(json.decoder.JSONDecoder())
    plain = frozenset(b'{["-0123456789tfn')
    loads_fallback = _json_loads

    def loads(b):
        # UTF-8 without BOM, starting with a value, nothing after it: all else takes json.loads's path
        if b and b[0] in plain and (len(b) < 2 or b[1]):
            try:
                s = b.decode("utf-8")
                obj, end = scan(s, 0)
                if end == len(s):
                    return obj
            except Exception:
                pass
        return loads_fallback(b)

    d = json.JSONEncoder()
    markers = {}
    enc = c_encoder(markers, d.default, json.encoder.encode_basestring_ascii, None, d.key_separator,
                    d.item_separator, False, False, True)
    join = "".join
    ascii_str = json.encoder.encode_basestring_ascii

    def dumps(o):
        if isinstance(o, str):
            return ascii_str(o)
        try:
            chunks = enc(o, 0)
        except BaseException:
            markers.clear()
            raise
        return chunks[0] if len(chunks) == 1 else join(chunks)

    return loads, dumps


class Reject(Exception):
    """The runtime refuses the request before predict (outcome 1)."""

    def __init__(self, meta: bytes, body: bytes) -> None:
        self.meta = meta
        self.body = body


def _frame(kind, rid, meta, body):
    return _HDR_PACK(13 + len(meta) + len(body), kind, rid, len(meta)) + meta + body


class Closed(Exception):
    pass


# --------------------------------------------------------------------------- reading

class Reader:
    """recv_into one reusable buffer, decode every complete frame, copy each out as
    (kind, request_id, meta bytes, body bytes)."""

    def __init__(self, sock: socket.socket, size: int = BUFFER_SIZE) -> None:
        self.sock = sock
        self.size = size
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.start = 0
        self.end = 0
        self.need = 0  # bytes the frame at `start` needs in all (0: unknown)

    def read(self, out, block: bool = True) -> bool:
        """Append the complete frames of one recv to `out`; False on EOF. Non-blocking: True when
        nothing was there. Raises ProtocolError on a corrupt stream."""
        buf = self.buf
        end = self.end
        if end == len(buf) or (self.need and self.start + self.need > len(buf)):
            self._make_room()
            buf = self.buf
            end = self.end
        try:
            if block:
                n = self.sock.recv_into(self.view[end:])
            else:
                n = self.sock.recv_into(self.view[end:], 0, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except ConnectionResetError:
            return False
        if n == 0:
            return False
        end += n
        pos = self.start
        view = self.view
        append = out.append
        need = 0
        while end - pos >= _HDR_SIZE:
            length, kind, rid, mlen = _HDR_UNPACK(buf, pos)
            if length < 13 or mlen > length - 13:
                raise P.ProtocolError(f"corrupt frame header: length={length} meta_length={mlen}")
            stop = pos + 4 + length
            if stop > end:
                need = 4 + length
                break
            ms = pos + _HDR_SIZE
            me = ms + mlen
            append((kind, rid, bytes(view[ms:me]) if mlen else b"", bytes(view[me:stop]) if stop > me else b""))
            pos = stop
        else:
            if end - pos >= 4 and _U32_UNPACK(buf, pos)[0] < 13:
                raise P.ProtocolError("corrupt frame header: length below 13")
        if pos == end:
            self.start = self.end = 0
            self.need = 0
            if len(buf) > self.size:  # a big frame went through: give the memory back
                self.buf = bytearray(self.size)
                self.view = memoryview(self.buf)
        else:
            self.start = pos
            self.end = end
            self.need = need
        return True

    def _make_room(self) -> None:
        pending = self.end - self.start
        want = max(self.need, pending + 65536, self.size)
        if want > len(self.buf):
            new = bytearray(max(want, 2 * len(self.buf)) if want <= 2 * len(self.buf) else want)
            new[:pending] = self.view[self.start:self.end]
            self.view.release()
            self.buf = new
            self.view = memoryview(new)
        else:
            self.buf[:pending] = self.buf[self.start:self.end]
        self.start = 0
        self.end = pending


# --------------------------------------------------------------------------- the worker

class Worker:
    def __init__(self, sock: socket.socket, spec: Spec, loaded, user: UserCode, registry=None, reader=None,
                 pending=(), metrics=None) -> None:
        self.sock = sock
        # metrics.MetricsBuffer when the predictor takes metrics_client or the API has models: its flusher
        # thread writes METRICS frames, so every write to the socket then takes write_lock
        self.metrics = metrics
        self.registry = registry  # models.Registry when the API has models
        self.reader = reader  # the Reader that took the handshake's frames (None: a new one)
        self.pending = list(pending)  # frames read before READY (REQUEST/CANCEL/SHUTDOWN)
        self.spec = spec
        self.loaded = loaded
        self.user = user
        self.threads = spec.threads_per_process
        self.predict = loaded.predict
        self.post_predict = loaded.post_predict
        self.predict_args = loaded.predict_args
        self.post_args = loaded.post_predict_args
        needed = set(self.predict_args) | (set(self.post_args) - {"response"} if self.post_predict else set())
        self.need_payload = "payload" in needed
        self.need_query = "query_params" in needed
        self.need_headers = "headers" in needed
        self.need_batch = "batch_id" in needed
        # predict gets the whole built dict when it needs exactly what is built
        self.predict_gets_all = set(self.predict_args) == needed
        if self.need_query or self.need_headers:
            from starlette.datastructures import Headers, QueryParams
            self._Headers = Headers
            self._QueryParams = QueryParams
        self.write_lock = threading.Lock()
        self.broken = False
        self.build, self.execute = self.make_runner()
        self.batch_dumps = make_json_codec()[1]

    # ---------------------------------------------------------------- arguments

    def make_runner(self):
        """(build, execute) for one thread, with that thread's JSON codec."""
        loads, dumps = make_json_codec()
        run = self._execute

        def execute(rid, kw):
            return run(rid, kw, dumps)
        return self._make_builder(loads), execute

    def _make_builder(self, loads):
        form = self._form
        need_payload, need_query, need_headers, need_batch = (
            self.need_payload, self.need_query, self.need_headers, self.need_batch)

        if need_payload and not (need_query or need_headers or need_batch):
            def build(meta, body):
                pk = meta[0]
                if pk == 1:
                    try:
                        return {"payload": loads(body)}
                    except (ValueError, RecursionError) as e:
                        raise Reject(META_BAD_JSON, _json_dumps({"error": str(e)}).encode()) from None
                if pk == 0:
                    return {"payload": body}
                return {"payload": form(meta, body)}
            return build

        Headers = getattr(self, "_Headers", None)
        QueryParams = getattr(self, "_QueryParams", None)

        def build(meta, body):
            kw = {}
            if need_payload:
                pk = meta[0]
                if pk == 1:
                    try:
                        kw["payload"] = loads(body)
                    except (ValueError, RecursionError) as e:
                        raise Reject(META_BAD_JSON, _json_dumps({"error": str(e)}).encode()) from None
                elif pk == 0:
                    kw["payload"] = body
                else:
                    kw["payload"] = form(meta, body)
            if need_query or need_headers:
                try:
                    qlen = _U32_UNPACK(meta, 4)[0]
                    hpos = 8 + qlen
                    if need_query:
                        kw["query_params"] = QueryParams(meta[8:hpos])
                    if need_headers:
                        hlen = _U32_UNPACK(meta, hpos)[0]
                        items = meta[hpos + 4:hpos + 4 + hlen].split(b"\0")
                        kw["headers"] = Headers(raw=list(zip(items[0::2], items[1::2])))
                except Exception as e:
                    raise Reject(META_BAD_FORM, _json_dumps({"error": f"malformed request meta: {e}"}).encode()) from None
            if need_batch:
                kw["batch_id"] = None
            return kw
        return build

    def _form(self, meta, body):
        try:
            from starlette.datastructures import FormData, Headers, UploadFile
            from io import BytesIO
            if meta[0] != P.PAYLOAD_FORM:
                raise P.MetaError(f"unknown payload_kind {meta[0]}")
            qlen = _U32_UNPACK(meta, 4)[0]
            hpos = 8 + qlen
            hlen = _U32_UNPACK(meta, hpos)[0]
            parts, _ = P.decode_parts(meta, hpos + 4 + hlen)
            items = []
            size = len(body)
            for is_file, name, filename, ctype, offset, length in parts:
                if offset + length > size:
                    raise P.MetaError(f"form part {name!r} lies outside the body")
                data = body[offset:offset + length]
                if is_file:
                    headers = Headers(raw=[(b"content-type", ctype.encode("latin-1", "replace"))]) if ctype \
                        else Headers()
                    items.append((name, UploadFile(BytesIO(data), size=length, filename=filename, headers=headers)))
                else:
                    try:
                        items.append((name, data.decode("utf-8")))
                    except UnicodeDecodeError:  # as starlette: a text field that is not UTF-8 is Latin-1
                        items.append((name, data.decode("latin-1")))
            return FormData(items)
        except Exception as e:
            raise Reject(META_BAD_FORM, _json_dumps({"error": f"malformed form: {e}"}).encode()) from None

    # ---------------------------------------------------------------- running

    def _execute(self, rid, kw, dumps):
        """Run predict; -> (response frame pieces, raw result, (rid, after task) or None)."""
        try:
            if self.predict_gets_all:
                result = self.predict(**kw)
            else:
                result = self.predict(**{k: kw[k] for k in self.predict_args})
        except Exception as e:
            return self._raised(rid, e, "predict"), None, None
        return self._respond(rid, result, kw, dumps)

    def _respond(self, rid, result, kw, dumps):
        """Map one predict result to its RESPONSE; -> (frame pieces, result, (rid, after task) or None)."""
        try:
            t = type(result)
            if t is dict or t is list:
                body = dumps(result).encode()
                meta = META_JSON
                after = None
            elif t is str:
                body = result.encode("utf-8")
                meta = META_TEXT
                after = None
            elif t is bytes:
                body = result
                meta = META_OCTET
                after = None
            else:
                meta, body, after = self.map_other(result, dumps)
            frame = _HDR_PACK(13 + len(meta) + len(body), _RESPONSE, rid, len(meta)) + meta
        except Exception as e:
            return self._raised(rid, e, "response"), None, None
        if self.post_predict is not None:
            after = self._post_task(rid, result, kw, after)
        if after is not None:
            after = (rid, after)
        return (frame, body), result, after

    # ---------------------------------------------------------------- batches (server_side_batching)

    def decode_batch(self, f):
        """A BATCH frame -> (BATCH, 0, [(rid, meta, body)], None), decoded once on the reader thread."""
        return (_BATCH, 0, P.decode_batch(f[2], f[3]), None)

    def run_batch(self, members, build, dumps, send, out=None):
        """Serve one batch: build each request's arguments (a request the runtime rejects is answered
        alone and left out), send the STARTs (after `out`, frames still to send, in the same send), call
        predict once with lists, answer each request. -> (response frame pieces, [(rid, after task)])."""
        out = out if out is not None else []
        items = []
        for rid, meta, body in members:
            try:
                items.append((rid, build(meta, body)))
            except Reject as r:
                out.append(_frame(_RESPONSE, rid, r.meta, r.body))
            except Exception as e:
                out += self._raised(rid, e, "reading the request")
        if not items:
            return out, []
        for rid, _ in items:
            out.append(_HDR_PACK(13, _START, rid, 0))
        send(b"".join(out))
        out = []
        n = len(items)
        args = {}
        for k in self.predict_args:
            args[k] = None if k == "batch_id" else [kw[k] for _, kw in items]
        try:
            results = self.predict(**args)
        except Exception as e:
            http = sys.modules.get("starlette.exceptions")
            if isinstance(e, ModelError) or (http is not None and isinstance(e, http.HTTPException)):
                for rid, _ in items:  # a status the predictor chose: each request gets it
                    out += self._raised(rid, e, "predict")
                return out, []
            summary = summarize(e, self.user)
            ids = ", ".join(f"{rid:016x}" for rid, _ in items)
            self.log_exception(items[0][0], e, f"predict raised {summary} for the batch of {n} request(s) {ids}")
            body = summary.encode("utf-8", "replace")
            for rid, _ in items:
                out.append(_HDR_PACK(13 + len(META_RAISED) + len(body), _RESPONSE, rid, len(META_RAISED))
                           + META_RAISED + body)
            return out, []
        if type(results) is not list or len(results) != n:
            what = (f"a list of {len(results)} item(s)" if type(results) is list
                    else f"{type(results).__name__}, not a list")
            ids = ", ".join(f"{rid:016x}" for rid, _ in items)
            msg = (f"with server_side_batching, predict must return a list with one response per payload: "
                   f"it got a batch of {n} payload(s) and returned {what}")
            _write_stderr("".join(f"{rid:016x} {msg}\n" for rid, _ in items[:1]) + f"  batch: {ids}\n")
            body = _json_dumps({"error": msg}).encode()
            meta = P.encode_response_meta(500, P.OUTCOME_HTTP_EXCEPTION, [(b"content-type", _JSON_CT)])
            for rid, _ in items:
                out.append(_HDR_PACK(13 + len(meta) + len(body), _RESPONSE, rid, len(meta)) + meta + body)
            return out, []
        after = []
        for (rid, kw), result in zip(items, results):
            pieces, _r, task = self._respond(rid, result, kw, dumps)
            out += pieces
            if task is not None:
                after.append(task)
        return out, after

    def map_other(self, result, dumps=_json_dumps):
        if isinstance(result, (bytes, bytearray, memoryview)):
            return META_OCTET, bytes(result), None
        if isinstance(result, str):
            return META_TEXT, str.encode(result, "utf-8"), None  # the string itself, not its __str__
        responses = sys.modules.get("starlette.responses")
        if responses is not None and isinstance(result, responses.Response):
            return self.map_response(result, responses)
        return META_JSON, dumps(result).encode(), None

    def map_response(self, r, responses):
        body = None
        if isinstance(r, responses.StreamingResponse):
            body = b"".join(self._drain(r))
        elif isinstance(r, getattr(responses, "FileResponse", ())) and not hasattr(r, "body"):
            path = r.path
            st = os.stat(path)
            if getattr(r, "stat_result", None) is None and hasattr(r, "set_stat_headers"):
                r.set_stat_headers(st)
            with open(path, "rb") as f:
                body = f.read()
        else:
            body = r.body
            if not isinstance(body, bytes):
                body = bytes(body)
        status = int(r.status_code)
        if not 100 <= status <= 999:
            raise ValueError(f"response status {status} is not an HTTP status code")
        pairs = r.raw_headers
        meta = P.encode_response_meta(status, 0, pairs)
        background = getattr(r, "background", None)
        if background is None:
            return meta, body, None

        def run_background():  # starlette runs it after the response went out: so do we
            from .aio import run_coroutine
            run_coroutine(background())
        return meta, body, run_background

    def _drain(self, r):
        charset = getattr(r, "charset", "utf-8")
        it = r.body_iterator
        sync = _sync_source(it)
        if sync is not None:
            chunks = list(sync)
        elif hasattr(it, "__aiter__"):
            from .aio import drain_async_iterable
            chunks = drain_async_iterable(it)
        else:
            chunks = list(it)
        return [c if isinstance(c, (bytes, bytearray, memoryview)) else str(c).encode(charset) for c in chunks]

    def _post_task(self, rid, result, kw, after):
        post = self.post_predict
        pkw = {}
        for k in self.post_args:
            pkw[k] = result if k == "response" else kw[k]
        if after is None:
            return lambda: post(**pkw)

        def both():
            try:
                after()
            finally:
                post(**pkw)
        return both

    def _raised(self, rid, e, where):
        if isinstance(e, ModelError):
            try:
                return self._model_error(rid, e)
            except Exception as e2:
                e = e2
        http = sys.modules.get("starlette.exceptions")
        if http is not None and isinstance(e, http.HTTPException):
            try:
                return self._http_exception(rid, e)
            except Exception as e2:  # a broken HTTPException (status out of range, odd headers)
                e = e2
        summary = summarize(e, self.user)
        self.log_exception(rid, e, f"{where} raised {summary}")
        body = summary.encode("utf-8", "replace")
        return (_HDR_PACK(13 + len(META_RAISED) + len(body), _RESPONSE, rid, len(META_RAISED)) + META_RAISED, body)

    def _http_exception(self, rid, e):
        status = int(e.status_code)
        if not 100 <= status <= 999:
            raise ValueError(f"HTTPException status {status} is not an HTTP status code")
        detail = getattr(e, "detail", None)
        body = ("" if detail is None else str(detail)).encode("utf-8")
        headers = []
        extra = getattr(e, "headers", None) or {}
        extra_pairs = [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in dict(extra).items()]
        if not any(k == b"content-type" for k, _ in extra_pairs):
            headers.append((b"content-type", _TEXT_CT))
        headers.extend(extra_pairs)
        meta = P.encode_response_meta(status, P.OUTCOME_HTTP_EXCEPTION, headers)
        return (_HDR_PACK(13 + len(meta) + len(body), _RESPONSE, rid, len(meta)) + meta, body)

    def _model_error(self, rid, e):
        """A model client error (unknown model/version 404, bad model_name/model_version 400, a version
        that failed to load 500): outcome 3, JSON {"error": message}."""
        status = int(getattr(e, "status", 500))
        if not 100 <= status <= 999:
            status = 500
        msg = e.message
        if status >= 500:
            _write_stderr(f"{rid:016x} {msg}\n")
        body = _json_dumps({"error": msg}).encode()
        meta = P.encode_response_meta(status, P.OUTCOME_HTTP_EXCEPTION, [(b"content-type", _JSON_CT)])
        return (_HDR_PACK(13 + len(meta) + len(body), _RESPONSE, rid, len(meta)) + meta, body)

    def on_models(self, meta) -> None:
        """A MODELS frame (reader thread): swap the table in; loads happen elsewhere."""
        if self.registry is None:
            return
        from .models import parse_models_frame
        try:
            table = parse_models_frame(meta)
        except ValueError as e:
            _write_stderr(f"cortex_worker: ignoring a malformed MODELS frame: {e}\n")
            return
        self.registry.update(table)

    def log_exception(self, rid, e, headline):
        prefix = f"{rid:016x} "
        text = headline + "\n" + format_traceback(e)
        _write_stderr("".join(prefix + line + "\n" for line in text.splitlines()))

    def run_after(self, rid, task):
        try:
            task()
        except Exception as e:
            self.log_exception(rid, e, f"post_predict raised {summarize(e, self.user)}")

    # ---------------------------------------------------------------- sending

    def send(self, data) -> None:
        if self.broken:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.broken = True

    def send_locked(self, data) -> None:
        with self.write_lock:
            self.send(data)

    def start_metrics(self) -> None:
        """After READY: METRICS frames go out from the flusher thread."""
        if self.metrics is not None:
            self.metrics.start(self.send_locked)

    def stop_metrics(self) -> None:
        """At exit: the last METRICS frame."""
        if self.metrics is not None:
            self.metrics.stop(self.send_locked)

    # ---------------------------------------------------------------- loops

    def serve(self) -> None:
        if self.threads <= 1:
            self.serve_inline()
        else:
            self.serve_pool()

    def serve_inline(self) -> None:
        reader = self.reader or Reader(self.sock)
        read = reader.read
        frames = deque()
        popleft = frames.popleft
        out = []
        after = []
        cancelled = set()
        build = self.build
        execute = self.execute
        send = self.send if self.metrics is None else self.send_locked
        join = b"".join
        clock = time.perf_counter
        eof = False
        last_read = 0.0

        def absorb(new):
            nonlocal eof
            for f in new:
                kind = f[0]
                if kind == _REQUEST:
                    if not eof:
                        frames.append(f)
                elif kind == _BATCH:
                    if not eof:
                        frames.append(self.decode_batch(f))
                elif kind == _CANCEL:
                    rid = f[1]
                    for g in frames:
                        if g[1] == rid or (g[0] == _BATCH and any(m[0] == rid for m in g[2])):
                            cancelled.add(rid)
                            break
                elif kind == _SHUTDOWN:
                    eof = True
                elif kind == _MODELS:
                    self.on_models(f[2])
                # other kinds are not for a worker: ignored

        new = []
        if self.pending:
            absorb(self.pending)
            self.pending = []
        while True:
            if not frames:
                if out:
                    send(join(out) if len(out) > 1 else out[0])
                    out.clear()
                if after:
                    for rid, task in after:
                        self.run_after(rid, task)
                    after.clear()
                if eof or self.broken:
                    return
                if not read(new, True):
                    eof = True
                last_read = clock()
                if new:
                    if len(new) == 1 and new[0][0] == _REQUEST:
                        frames.append(new[0])
                    else:
                        absorb(new)
                    new.clear()
                continue
            f = popleft()
            rid = f[1]
            if f[0] == _BATCH:
                members = f[2]
                if cancelled:
                    kept = [m for m in members if m[0] not in cancelled]
                    cancelled.difference_update(m[0] for m in members)
                    members = kept
                pieces, tasks = self.run_batch(members, build, self.batch_dumps, send, list(out))
                out.clear()
                out += pieces
                after += tasks
                if after and len(after) >= MAX_DEFERRED:
                    send(join(out))
                    out.clear()
                    for rid, task in after:
                        self.run_after(rid, task)
                    after.clear()
                if self.broken:
                    frames.clear()
                continue
            if cancelled and rid in cancelled:
                cancelled.discard(rid)
                continue
            if out and len(f[3]) > EARLY_FLUSH:
                send(join(out))
                out.clear()
            try:
                kw = build(f[2], f[3])
            except Reject as r:
                out.append(_frame(_RESPONSE, rid, r.meta, r.body))
                continue
            except Exception as e:  # a malformed REQUEST meta, MemoryError...: answer, keep serving
                out += self._raised(rid, e, "reading the request")
                continue
            out.append(_HDR_PACK(13, _START, rid, 0))
            send(join(out) if len(out) > 1 else out[0])
            out.clear()
            pieces, _result, task = execute(rid, kw)
            out += pieces
            if task is not None:
                after.append(task)
                if len(after) >= MAX_DEFERRED:  # under sustained load the queue may never drain
                    send(join(out))
                    out.clear()
                    for rid, task in after:
                        self.run_after(rid, task)
                    after.clear()
            if self.broken:
                frames.clear()
            elif frames and not eof and clock() - last_read > POLL_INTERVAL:
                # a long batch: pick up CANCELs (and new requests) that arrived meanwhile
                if not read(new, False):
                    eof = True
                last_read = clock()
                if new:
                    absorb(new)
                    new.clear()

    def serve_pool(self) -> None:
        import queue as _queue
        jobs = _queue.SimpleQueue()
        pending = {}
        threads = [threading.Thread(target=self._pool_thread, args=(jobs, pending), name=f"predict-{i}", daemon=True)
                   for i in range(self.threads)]
        for t in threads:
            t.start()
        reader = self.reader or Reader(self.sock)
        new = self.pending
        self.pending = []
        eof = False
        try:
            while not eof and not self.broken:
                if not new and not reader.read(new, True):
                    eof = True
                for f in new:
                    kind = f[0]
                    if kind == _REQUEST:
                        if not eof:
                            pending[f[1]] = True
                            jobs.put(f)
                    elif kind == _BATCH:
                        if not eof:
                            f = self.decode_batch(f)
                            for m in f[2]:
                                pending[m[0]] = True
                            jobs.put(f)
                    elif kind == _CANCEL:
                        pending.pop(f[1], None)
                    elif kind == _SHUTDOWN:
                        eof = True
                    elif kind == _MODELS:
                        self.on_models(f[2])
                new.clear()
        finally:
            for _ in threads:
                jobs.put(None)
            for t in threads:
                t.join()

    def _pool_thread(self, jobs, pending) -> None:
        get = jobs.get
        build, execute = self.make_runner()
        dumps = make_json_codec()[1]
        send = self.send_locked
        while True:
            f = get()
            if f is None:
                return
            if f[0] == _BATCH:
                members = [m for m in f[2] if pending.pop(m[0], None) is not None]
                if self.broken or not members:
                    continue
                pieces, tasks = self.run_batch(members, build, dumps, send)
                if pieces:
                    send(b"".join(pieces))
                for task in tasks:
                    self.run_after(*task)
                continue
            rid = f[1]
            if pending.pop(rid, None) is None:
                continue  # cancelled before it started
            if self.broken:
                continue
            try:
                kw = build(f[2], f[3])
            except Reject as r:
                send(_frame(_RESPONSE, rid, r.meta, r.body))
                continue
            except Exception as e:
                send(b"".join(self._raised(rid, e, "reading the request")))
                continue
            send(_HDR_PACK(13, _START, rid, 0))
            pieces, _result, task = execute(rid, kw)
            send(b"".join(pieces))
            if task is not None:
                self.run_after(*task)


def _sync_source(it):
    """The plain iterator behind starlette's iterate_in_threadpool wrapper, when it is one that has
    not started: draining it directly needs no event loop."""
    try:
        from starlette.concurrency import iterate_in_threadpool
    except ImportError:
        return None
    code = getattr(it, "ag_code", None)
    if code is None or code is not getattr(iterate_in_threadpool, "__code__", None):
        return None
    frame = getattr(it, "ag_frame", None)
    if frame is None or getattr(it, "ag_running", False) or frame.f_lasti > 0:
        return None
    return frame.f_locals.get("iterator")


# --------------------------------------------------------------------------- process setup

def _unbuffer_stdio() -> None:
    import io
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        try:
            if stream is not None and isinstance(getattr(stream, "buffer", None), io.RawIOBase):
                continue  # already unbuffered (python -u / PYTHONUNBUFFERED)
            if stream is not None:
                stream.flush()
            raw = io.FileIO(fd, "w", closefd=False)
            setattr(sys, name, io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace",
                                                write_through=True))
        except (OSError, ValueError):
            pass


def _setup_logging() -> None:
    """Root logger at INFO to stderr, short format, unless the user configures logging: the user's
    first logging.basicConfig() (made a no-op by an existing handler otherwise) replaces ours."""
    import logging
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    original = logging.basicConfig

    def basicConfig(**kwargs):
        logging.basicConfig = original
        if root.handlers == [handler]:
            root.removeHandler(handler)
            root.setLevel(logging.WARNING)
        return original(**kwargs)

    basicConfig.__doc__ = original.__doc__
    logging.basicConfig = basicConfig


def _parse_args(argv):
    import argparse
    p = argparse.ArgumentParser(prog="python -m cortex_worker", description="Cortex for Swift: Python worker")
    p.add_argument("--socket", required=True, help="Unix socket path of the front")
    p.add_argument("--worker", required=True, type=int, help="worker number")
    return p.parse_args(argv)


def _exit(code: int) -> None:
    """Exit now, running atexit handlers but not waiting for the user's non-daemon threads."""
    try:
        import atexit
        atexit._run_exitfuncs()
    except Exception:
        pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    os._exit(code)


def _control(sock, kind, meta: dict) -> None:
    sock.sendall(P.encode_frame(kind, 0, json.dumps(meta).encode()))


class _Leave(BaseException):
    """The front went away (EOF) or sent SHUTDOWN before the first MODELS frame."""


def _wait_for_models(reader: Reader, registry, pending: list) -> None:
    """Read frames until the first MODELS frame and apply it; other frames are kept for the serve loop."""
    from .models import parse_models_frame
    frames = []
    while True:
        if not reader.read(frames, True):
            raise _Leave()
        for i, f in enumerate(frames):
            kind = f[0]
            if kind == P.MODELS:
                try:
                    table = parse_models_frame(f[2])
                except ValueError as e:
                    raise PredictorError(f"the front sent a malformed MODELS frame: {e}") from None
                registry.update(table)
                pending.extend(frames[i + 1:])
                return
            if kind == P.SHUTDOWN:
                raise _Leave()
            pending.append(f)
        frames.clear()


def _check_onnx_models_at_start(registry) -> None:
    """server_side_batching with ONNX: load each model's latest version now, so a model whose batch
    dimension is fixed is refused at start (FAILED), not at its first request."""
    from .models import ModelError
    if registry.cache_size is not None:
        return  # caching: versions load on demand
    for name in registry.names():
        versions = sorted(registry.table.get(name, {}), key=lambda v: int(v) if v.isdigit() else 0)
        if not versions:
            continue
        try:
            registry._ensure((name, versions[-1]), background=False)
        except ModelError as e:
            if "server_side_batching" in e.message:
                raise PredictorError(e.message) from None


def main(argv=None) -> int:
    _unbuffer_stdio()
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front owns shutdown (SHUTDOWN / EOF)
    except (ValueError, OSError):
        pass
    raw_spec = os.environ.get("CORTEX_WORKER_SPEC", "")

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
        _control(sock, P.HELLO, {"worker": args.worker, "pid": os.getpid()})
    except OSError as e:
        _write_stderr(f"cortex_worker: cannot reach the front at {args.socket}: {e}\n")
        _exit(1)

    user = UserCode(os.getcwd())
    try:
        try:
            spec = Spec.from_json_obj(json.loads(raw_spec) if raw_spec else None)
        except json.JSONDecodeError as e:
            raise PredictorError(f"CORTEX_WORKER_SPEC is not valid JSON: {e}") from None
        user = UserCode(spec.project_dir, spec.python_path)
        if spec.front_host and spec.front_port:
            from . import resolver
            resolver.install(spec.front_host, spec.front_port)
        os.chdir(spec.project_dir)
        for p in (spec.project_dir, spec.python_path):
            if p in sys.path:
                sys.path.remove(p)
        sys.path.insert(0, spec.project_dir)
        sys.path.insert(0, spec.python_path)
        _setup_logging()
        registry = None
        reader = None
        pending = []
        metrics = MetricsBuffer()
        if spec.models is not None:
            from .models import make_registry
            batching = spec.batching if spec.predictor_type in ("tensorflow", "onnx") else None
            registry = make_registry(spec.predictor_type, spec.models, lambda e: summarize(e, user), batching)
            registry.metrics = metrics
            reader = Reader(sock)
        loaded = load(spec, registry, None if registry is None else lambda: _wait_for_models(reader, registry, pending),
                      metrics)
        if registry is not None and spec.batching is not None and spec.predictor_type == "onnx":
            _check_onnx_models_at_start(registry)
        worker = Worker(sock, spec, loaded, user, registry, reader, pending,
                        metrics if loaded.uses_metrics or registry is not None else None)
    except _Leave:
        _exit(0)
        return 0
    except BaseException as e:
        error = summarize(e, user)
        tb = format_traceback(e)
        _write_stderr(f"cortex_worker: failed to start: {error}\n{tb}")
        try:
            _control(sock, P.FAILED, {"error": error, "traceback": tb})
        except OSError:
            pass
        _exit(1)
        return 1

    try:
        _control(sock, P.READY, {})
    except OSError as e:
        _write_stderr(f"cortex_worker: lost the front: {e}\n")
        _exit(1)
    worker.start_metrics()
    if worker.registry is not None:
        worker.registry.start()  # no caching: load every announced version in the background
    try:
        worker.serve()
    except P.ProtocolError as e:
        _write_stderr(f"cortex_worker: {e}; closing\n")
        _exit(1)
    worker.stop_metrics()
    try:
        sock.close()
    except OSError:
        pass
    _exit(0)
    return 0
