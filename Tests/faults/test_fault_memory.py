"""Promise 7 — memory: a soak of mixed requests (JSON, multipart with a file, 5 MiB octet-stream bodies)
leaves the front's resident memory bounded, and its open file descriptors and temporary files where
they were after the warm-up.

FAULT_SOAK_REQUESTS sets the number of requests (default 100000: about 1.5 minutes against the debug
build on 2 cores; lower it for a quick run). FAULT_SOAK_CLIENTS: concurrent keep-alive clients
(default 8)."""
import os
import shutil
import tempfile
import threading
import time

from faults_support import ECHO_YAML, Client, NoAnswer, child_pids, fd_targets, files_under, json_or_none, \
    percentile, report, rss_kib, start_server

REQUESTS = int(os.environ.get("FAULT_SOAK_REQUESTS", "100000"))
CLIENTS = int(os.environ.get("FAULT_SOAK_CLIENTS", "8"))
WARMUP = min(max(2000, REQUESTS // 10), REQUESTS // 2)
BIG = 5 * 1024 * 1024
BIG_EVERY = 200  # one request in 200 carries a 5 MiB body
FORM_EVERY = 5  # one in 5 is multipart with a file
RSS_SLACK_KIB = 64 * 1024

PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        if isinstance(payload, bytes):
            return {"kind": "bytes", "size": len(payload), "last": payload[-1] if payload else None}
        if isinstance(payload, dict):
            return {"kind": "json", "n": payload["n"]}
        upload = payload["file"]
        data = upload.file.read()
        return {"kind": "form", "n": int(payload["n"]), "size": len(data), "filename": upload.filename}
'''

BIG_BODY = bytes(range(256)) * (BIG // 256)
FILE = os.urandom(16 * 1024)
BOUNDARY = "fault-soak-boundary-7MA4YWxkTrZu0gW"


def multipart(n):
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n{n}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{n}.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + FILE + f"\r\n--{BOUNDARY}--\r\n".encode()


def one(client, n):
    """Sends request n of the mix; True when its answer is right."""
    if n % BIG_EVERY == 0:
        answer = client.request("POST", "/echo", BIG_BODY, {"Content-Type": "application/octet-stream"})
        expected = {"kind": "bytes", "size": BIG, "last": BIG_BODY[-1]}
    elif n % FORM_EVERY == 1:
        answer = client.request("POST", "/echo", multipart(n), {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        expected = {"kind": "form", "n": n, "size": len(FILE), "filename": f"f{n}.bin"}
    else:
        answer = client.post_json("/echo", {"n": n, "pad": "x" * (n % 512)})
        expected = {"kind": "json", "n": n}
    return answer.status == 200 and json_or_none(answer) == expected, answer.latency


def run_phase(port, start, count, results, sampler=None):
    """`count` requests numbered from `start`, spread over CLIENTS keep-alive connections."""
    counter = iter(range(start, start + count))
    lock = threading.Lock()

    def worker():
        client = Client(port)
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    good, latency = one(client, n)
                    results.append(("ok" if good else "wrong", n, latency))
                except NoAnswer as e:
                    results.append(("lost", n, repr(e)))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if sampler:
            sampler()
        time.sleep(0.25)
    for t in threads:
        t.join()


def snapshot(pid, tmp_dir):
    targets = fd_targets(pid)
    return {"rss": rss_kib(pid), "fds": len(targets), "tmp_fds": sum(t.startswith("/tmp") for t in targets),
            "tmp_files": files_under(tmp_dir)}


def test_memory_soak(tmp_path):
    yaml = ECHO_YAML + "    processes_per_replica: 2\n"
    tmp_dir = tempfile.mkdtemp(prefix="fault-soak-", dir="/tmp")  # TMPDIR of cortex and its workers
    server = start_server(tmp_path, yaml, predictor=PREDICTOR, env={"TMPDIR": tmp_dir})
    pid = server.proc.pid
    results = []
    peak = [0]
    started_at = time.monotonic()
    try:
        run_phase(server.port, 0, WARMUP, results)
        time.sleep(1.0)
        before = snapshot(pid, tmp_dir)
        workers_before = {w: rss_kib(w) for w in child_pids(pid)}

        def sample():
            peak[0] = max(peak[0], rss_kib(pid))

        run_phase(server.port, WARMUP, REQUESTS - WARMUP, results, sampler=sample)
        time.sleep(1.0)
        after = snapshot(pid, tmp_dir)
        workers_after = {w: rss_kib(w) for w in child_pids(pid)}
    finally:
        server.stop()
        elapsed = time.monotonic() - started_at
        shutil.rmtree(tmp_dir, ignore_errors=True)
    ok = sum(1 for r in results if r[0] == "ok")
    lost = [r for r in results if r[0] != "ok"]
    latencies = [r[2] for r in results if r[0] == "ok"]
    report("memory", len(results), ok, 0, len(lost), seconds=round(elapsed, 1), clients=CLIENTS,
           rss_start_mib=round(before["rss"] / 1024, 1), rss_end_mib=round(after["rss"] / 1024, 1),
           rss_peak_mib=round(peak[0] / 1024, 1), fds_start=before["fds"], fds_end=after["fds"],
           tmp_files_start=before["tmp_files"], tmp_files_end=after["tmp_files"], tmp_fds_end=after["tmp_fds"],
           worker_rss_mib="/".join(f"{workers_before.get(w, 0) // 1024}->{workers_after[w] // 1024}"
                                   for w in sorted(workers_after)),
           p99_ms=round(percentile(latencies, 99) * 1000, 1))
    assert not lost, lost[:5]
    assert len(results) == REQUESTS
    assert after["rss"] <= before["rss"] + RSS_SLACK_KIB, f"front RSS grew {before['rss']} → {after['rss']} KiB"
    assert after["fds"] <= before["fds"], f"front file descriptors grew: {before['fds']} → {after['fds']}"
    assert after["tmp_files"] <= before["tmp_files"] and after["tmp_fds"] <= before["tmp_fds"]
