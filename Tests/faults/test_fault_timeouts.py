"""Promise 2 — timeouts: past predictor.timeout a request gets a 504; requests that expire while they
wait in the queue (the front's or the worker's prefetch window) never reach the predictor."""
import concurrent.futures

from faults_support import one, Client, NoAnswer, carries_request_id, child_pids, json_or_none, log_lines, \
    project_yaml, report, start_server, started, wait_for

TIMEOUT = 1.0
QUEUED = 48  # more than a worker's prefetch window (32): some wait in the front, some in the worker
NORMAL = 10


def is_504(answer):
    body = json_or_none(answer)
    return (not isinstance(answer, NoAnswer) and answer.status == 504 and isinstance(body, dict)
            and "predictor.timeout" in body.get("error", "") and carries_request_id(answer))


def run(tmp_path, threads):
    """One server with `threads` threads per worker: as many blockers as threads, then QUEUED requests
    that expire while queued, then NORMAL requests that must succeed. → (expired, normal, runs, kept)"""
    log = tmp_path / f"runs-{threads}.txt"
    server = start_server(tmp_path / f"t{threads}",
                          project_yaml(log, predictor=f"timeout: {TIMEOUT}\nthreads_per_process: {threads}"))
    blockers = {f"blocker-{i}" for i in range(threads)}
    try:
        workers = child_pids(server.proc.pid)
        with concurrent.futures.ThreadPoolExecutor(QUEUED + threads) as pool:
            blocked = [pool.submit(one, server.port, {"tag": tag, "sleep": 2.5}) for tag in sorted(blockers)]
            assert wait_for(lambda: blockers <= set(started(log)), 10)
            queued = [pool.submit(one, server.port, {"tag": f"queued-{i}"}) for i in range(QUEUED)]
            expired = [f.result() for f in blocked + queued]
        # The worker is busy until the blockers' predicts return (their post_predicts log it).
        assert wait_for(lambda: all(f"post {tag}" in log_lines(log) for tag in blockers), 10)
        normal = [one(server.port, {"tag": f"normal-{i}", "sleep": 0.3 if i % 2 else 0}) for i in range(NORMAL)]
        kept = workers == child_pids(server.proc.pid)
    finally:
        server.stop()
    runs = started(log)
    assert set(runs) - blockers - {f"normal-{i}" for i in range(NORMAL)} == {tag for tag in runs if tag.startswith("queued-")}
    return expired, normal, runs, kept


def test_timeouts(tmp_path):
    expired, normal, ran_expired, kept, normal_ok = [], [], [], True, 0
    for threads in (1, 2):
        e, n, runs, k = run(tmp_path, threads)
        expired += e
        normal += n
        kept = kept and k
        ran_expired += sorted(tag for tag in runs if tag.startswith("queued-"))
        normal_ok += sum(1 for i, a in enumerate(n) if not isinstance(a, NoAnswer) and a.status == 200
                         and (json_or_none(a) or {}).get("tag") == f"normal-{i}")
    got_504 = [a for a in expired if is_504(a)]
    wrong = [a for a in expired if not is_504(a)]
    latencies = [a.latency for a in got_504]
    report("timeouts", len(expired) + len(normal), normal_ok, len(got_504),
           len(wrong) + (len(normal) - normal_ok) + len(ran_expired),
           timeout_s=TIMEOUT, expired_while_queued=2 * QUEUED, expired_that_ran=len(ran_expired),
           min_504_s=round(min(latencies, default=0), 3), max_504_s=round(max(latencies, default=0), 3),
           workers_kept=int(kept))
    assert not wrong, [repr(a) if isinstance(a, NoAnswer) else (a.status, a.body[:200]) for a in wrong[:5]]
    assert normal_ok == len(normal)
    assert not ran_expired, f"expired requests reached the predictor: {ran_expired}"
    assert min(latencies) >= TIMEOUT * 0.95 and max(latencies) < TIMEOUT + 1.0, latencies
    assert kept, "a worker that finished within the grace period was replaced"
