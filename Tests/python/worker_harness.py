"""Test harness that plays the front: it listens on a Unix socket, spawns `python -m cortex_worker`
as the front would, and speaks docs/PROTOCOL.md to it."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER_SRC = ROOT / "Sources" / "Workers" / "python"
VECTORS = ROOT / "Tests" / "WorkerProtocolTests" / "vectors" / "frames.json"
sys.path.insert(0, str(WORKER_SRC))

from cortex_worker import protocol as P  # noqa: E402


class Response:
    def __init__(self, rid, status, outcome, headers, body, started):
        self.rid = rid
        self.status = status
        self.outcome = outcome
        self.raw_headers = headers
        self.body = body
        self.started = started

    @property
    def headers(self):
        return {k.decode(): v.decode("latin-1") for k, v in self.raw_headers}

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response(status={self.status}, outcome={self.outcome}, headers={self.raw_headers}, body={self.body[:200]!r})"


class Front:
    """One worker process and its connection."""

    def __init__(self, tmp: Path, source: str, *, config=None, threads=1, predictor_type="python",
                 files=None, predictor_path="predictor.py", front_port=8888, spec=None, env=None,
                 wait=True, timeout=20.0):
        self.tmp = tmp
        self.project = tmp / "project"
        self.project.mkdir(parents=True, exist_ok=True)
        (self.project / predictor_path).write_text(textwrap.dedent(source))
        for name, text in (files or {}).items():
            p = self.project / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text)) if isinstance(text, str) else p.write_bytes(text)
        self.sockdir = tempfile.mkdtemp(prefix="cw-", dir="/tmp")
        self.sock_path = os.path.join(self.sockdir, "front.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.sock_path)
        self.listener.listen(4)
        self.listener.settimeout(timeout)
        full_spec = {"api": "test-api", "predictor_type": predictor_type, "predictor_path": predictor_path,
                     "config": config if config is not None else {}, "threads_per_process": threads,
                     "project_dir": str(self.project), "python_path": str(self.project),
                     "front_host": "127.0.0.1", "front_port": front_port}
        full_spec.update(spec or {})
        e = dict(os.environ)
        e["PYTHONPATH"] = str(WORKER_SRC)
        e["CORTEX_WORKER_SPEC"] = json.dumps(full_spec)
        e.pop("PYTHONUNBUFFERED", None)
        e.update(env or {})
        self.stdout_path = tmp / "worker.stdout"
        self.stderr_path = tmp / "worker.stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "cortex_worker", "--socket", self.sock_path,
                                      "--worker", "3"], cwd=self.project, env=e,
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(timeout)
        self.decoder = P.FrameDecoder()
        self.frames = []
        self.metrics = []  # the entries of every METRICS frame received, in order (recv() never returns one)
        self.next_rid = 1
        self.hello = self.recv()
        assert self.hello[0] == P.HELLO and self.hello[1] == 0, self.hello
        self.hello_meta = json.loads(self.hello[2])
        self.ready = None
        if wait:
            self.ready = self.recv()

    # -- raw frames
    def recv(self, timeout=None):
        """The next frame other than METRICS (those are collected in `metrics`)."""
        if timeout is not None:
            self.conn.settimeout(timeout)
        while not self.frames:
            data = self.conn.recv(1 << 20)
            if not data:
                raise EOFError("worker closed the connection")
            for f in self.decoder.feed(data):
                if f[0] == P.METRICS:
                    self.metrics.extend(P.decode_metrics_meta(f[2]))
                else:
                    self.frames.append(f)
        return self.frames.pop(0)

    def drain_metrics(self, timeout=0.5):
        """Read for `timeout` seconds (keeping other frames for recv) -> the METRICS entries so far."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.conn.settimeout(left)
            try:
                data = self.conn.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                break
            if not data:
                break
            for f in self.decoder.feed(data):
                if f[0] == P.METRICS:
                    self.metrics.extend(P.decode_metrics_meta(f[2]))
                else:
                    self.frames.append(f)
        self.conn.settimeout(20)
        return self.metrics

    def send(self, kind, rid=0, meta=b"", body=b""):
        self.conn.sendall(P.encode_frame(kind, rid, meta, body))

    def send_request(self, body=b"", *, kind=P.PAYLOAD_JSON, query="", headers=(), parts=None, rid=None):
        if rid is None:
            rid = self.next_rid
            self.next_rid += 1
        if isinstance(body, str):
            body = body.encode()
        meta = P.encode_request_meta(kind, query, headers, parts)
        self.send(P.REQUEST, rid, meta, body)
        return rid

    def wait_response(self, rid, timeout=20.0):
        started = False
        deadline = time.monotonic() + timeout
        pending = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no RESPONSE for {rid}")
                kind, frid, meta, body = self.recv(timeout=left)
                if frid != rid:
                    pending.append((kind, frid, meta, body))
                    continue
                if kind == P.START:
                    assert not started, "two STARTs"
                    started = True
                elif kind == P.RESPONSE:
                    status, outcome, headers = P.decode_response_meta(meta)
                    return Response(rid, status, outcome, headers, body, started)
                else:
                    raise AssertionError(f"unexpected frame kind {kind} for {rid}")
        finally:
            self.frames[:0] = pending

    def call(self, body=b"", **kw):
        return self.wait_response(self.send_request(body, **kw))

    def json(self, obj, **kw):
        return self.call(json.dumps(obj).encode(), kind=P.PAYLOAD_JSON, **kw)

    # -- lifecycle
    def shutdown(self, timeout=20.0):
        self.send(P.SHUTDOWN)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=20.0):
        return self.proc.wait(timeout)

    @property
    def stderr(self):
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self):
        self._out.flush()
        return self.stdout_path.read_text(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.conn.close()
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for f in (self.conn, self.listener):
            try:
                f.close()
            except OSError:
                pass
        self._out.close()
        self._err.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)


# --------------------------------------------------------------------------- models

def dir_stamp(path) -> str:
    """What the front puts in a MODELS version's `stamp`: newest modification time and total size."""
    newest, total = 0.0, 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            st = os.stat(os.path.join(root, f))
            newest = max(newest, st.st_mtime)
            total += st.st_size
    return f"{newest:.6f}-{total}"


def models_meta(table) -> bytes:
    """MODELS meta from {name: {version: path}} (versions in ascending order, stamps from the dirs)."""
    models = []
    for name, versions in table.items():
        vs = [{"version": str(v), "path": str(p), "stamp": dir_stamp(p)}
              for v, p in sorted(versions.items(), key=lambda kv: int(kv[0]))]
        models.append({"name": name, "versions": vs})
    return P.encode_models_meta(models)


def send_models(w, table) -> None:
    w.send(P.MODELS, 0, models_meta(table))


def start_with_models(front, source, table, *, mode="single", cache_size=None, signature_keys=None,
                      default_signature_key=None, predictor_type="python", **kw):
    """A worker of an API with models: HELLO, then the first MODELS frame, then READY."""
    models = {"mode": mode, "cache_size": cache_size, "default_signature_key": default_signature_key,
              "signature_keys": signature_keys if signature_keys is not None else {n: None for n in table}}
    w = front(source, predictor_type=predictor_type, wait=False, spec={"models": models}, **kw)
    send_models(w, table)
    kind, rid, meta, _ = w.recv(timeout=60)
    assert kind == P.READY, (kind, meta, w.stderr)
    w.conn.settimeout(20)
    return w


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.fixture
def front(tmp_path):
    made = []

    def start(source, **kw):
        sub = tmp_path / f"w{len(made)}"
        sub.mkdir()
        f = Front(sub, source, **kw)
        made.append(f)
        return f

    yield start
    for f in made:
        f.close()


@pytest.fixture(scope="session")
def vectors():
    return json.loads(VECTORS.read_text())
