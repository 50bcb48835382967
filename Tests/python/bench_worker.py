"""Throughput of the Python worker on a small JSON echo (not a pytest test).

Spawns `python -m cortex_worker` on a Unix socket, pipelines N REQUEST frames at it from one thread
while another thread reads the RESPONSEs, and reports requests/s and the worker's CPU time per request.

    python Tests/python/bench_worker.py [-n 100000] [--threads 1] [--window 0]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Sources" / "Workers" / "python"))
from cortex_worker import protocol as P  # noqa: E402

PREDICTOR = """
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # user, system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--window", type=int, default=0, help="max requests in flight (0: unbounded)")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cwbench-"))
    (tmp / "predictor.py").write_text(PREDICTOR)
    sock_path = str(tmp / "s")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(sock_path)
    lst.listen(1)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "Sources" / "Workers" / "python"),
               CORTEX_WORKER_SPEC=json.dumps({"api": "bench", "predictor_type": "python",
                                              "predictor_path": "predictor.py", "config": {},
                                              "threads_per_process": a.threads, "project_dir": str(tmp),
                                              "python_path": str(tmp), "front_host": "127.0.0.1",
                                              "front_port": 8888}))
    proc = subprocess.Popen([sys.executable, "-m", "cortex_worker", "--socket", sock_path, "--worker", "0"],
                            cwd=tmp, env=env)
    conn, _ = lst.accept()
    dec = P.FrameDecoder()
    got = []
    while len(got) < 2:
        got += dec.feed(conn.recv(65536))
    assert got[1][0] == P.READY, got

    meta = P.encode_request_meta(P.PAYLOAD_JSON, "", [("content-type", "application/json")])
    body = b'{"text": "machine learning is", "n": 42}'
    hdr = struct.Struct("<IBQI")
    frames = [hdr.pack(13 + len(meta) + len(body), P.REQUEST, i + 1, len(meta)) + meta + body for i in range(a.n)]
    n = a.n
    sem = threading.Semaphore(a.window) if a.window else None
    done = threading.Event()
    counts = {"responses": 0, "starts": 0, "bad": 0}

    def reader():
        buf = bytearray()
        unpack = hdr.unpack_from
        resp = 0
        while resp < n:
            data = conn.recv(1 << 20)
            if not data:
                break
            buf += data
            pos = 0
            end = len(buf)
            while end - pos >= 17:
                length, kind, rid, mlen = unpack(buf, pos)
                stop = pos + 4 + length
                if stop > end:
                    break
                if kind == P.RESPONSE:
                    resp += 1
                    if buf[pos + 17:pos + 19] != b"\xc8\x00":
                        counts["bad"] += 1
                    if sem:
                        sem.release()
                else:
                    counts["starts"] += 1
                pos = stop
            del buf[:pos]
        counts["responses"] = resp
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    cpu0 = cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    t.start()
    if sem is None:
        chunk = 2000
        for i in range(0, n, chunk):
            conn.sendall(b"".join(frames[i:i + chunk]))
    else:
        for f in frames:
            sem.acquire()
            conn.sendall(f)
    done.wait()
    elapsed = time.perf_counter() - t0
    u1, s1 = cpu_seconds(proc.pid)
    user, system = u1 - cpu0[0], s1 - cpu0[1]
    cpu = user + system
    conn.sendall(P.encode_frame(P.SHUTDOWN))
    rc = proc.wait(10)
    print(f"threads_per_process={a.threads} window={a.window or 'unbounded'} requests={n}")
    print(f"responses={counts['responses']} starts={counts['starts']} non-200={counts['bad']} worker_exit={rc}")
    print(f"wall {elapsed:.3f}s -> {n / elapsed:,.0f} requests/s; worker CPU {cpu:.3f}s -> "
          f"{cpu / n * 1e6:.2f} us/request (user {user / n * 1e6:.2f}, system {system / n * 1e6:.2f})")


if __name__ == "__main__":
    main()
