"""Promise 4 — worker crash, nothing lost: under steady load, kill -9 a worker again and again. Every
request succeeds, or — only when its predictor had started on the killed worker — gets a 5xx carrying
its request id; /readyz is 503 while a worker is down and 200 again afterwards."""
import os
import random
import signal
import time

from faults_support import Loop, NoAnswer, ReadyzPoller, child_pids, died_with_its_worker, json_or_none, \
    percentile, project_yaml, report, start_server, started, wait_for

CLIENTS = 12
KILLS = 5
INTERVAL = 1.0


def test_worker_crash(tmp_path):
    log = tmp_path / "runs.txt"
    server = start_server(tmp_path, project_yaml(log, predictor="processes_per_replica: 2", sleep=0.005))
    results = []  # (tag, Answer or NoAnswer)

    def step(client, i):
        tag = f"{id(client):x}-{i}"
        try:
            results.append((tag, client.post_json("/echo", {"tag": tag})))
        except NoAnswer as e:
            results.append((tag, e))

    kills = []  # (pid, time)
    rng = random.Random(4)
    poller = ReadyzPoller(server.port, interval=0.01)
    loops = [Loop(server.port, step) for _ in range(CLIENTS)]
    try:
        original = child_pids(server.proc.pid)
        assert len(original) == 2
        poller.start()
        for loop in loops:
            loop.start()
        time.sleep(1.0)
        for _ in range(KILLS):
            workers = child_pids(server.proc.pid)
            victim = rng.choice(workers)
            kills.append((victim, time.monotonic()))
            os.kill(victim, signal.SIGKILL)
            time.sleep(INTERVAL)
        recovered = wait_for(lambda: len(child_pids(server.proc.pid)) == 2 and poller.samples
                             and poller.samples[-1][1] == 200, 60)
        time.sleep(1.0)  # steady load on the respawned workers
        for loop in loops:
            loop.stop()
        for loop in loops:
            loop.join(120)
        poller.stop()
        assert not any(loop.is_alive() for loop in loops), "a client hangs"
        assert not [e for loop in loops for e in loop.errors]
    finally:
        server.stop()

    runs = started(log)
    killed = {pid for pid, _ in kills}
    ok, failed, lost = [], [], []
    for tag, answer in results:
        body = None if isinstance(answer, NoAnswer) else json_or_none(answer)
        if not isinstance(answer, NoAnswer) and answer.status == 200 and isinstance(body, dict) and body.get("tag") == tag:
            ok.append(tag)
        elif not isinstance(answer, NoAnswer) and died_with_its_worker(answer, runs.get(tag, []), killed):
            failed.append(tag)
        else:
            lost.append((tag, repr(answer) if isinstance(answer, NoAnswer)
                         else (answer.status, answer.body[:200], runs.get(tag))))
    # /readyz: a 503 after each kill (before the next one), and 200 at the end.
    seen_503 = 0
    recovery = []
    for k, (_, at) in enumerate(kills):
        until = kills[k + 1][1] if k + 1 < len(kills) else float("inf")
        window = [(t, s) for t, s in poller.samples if at <= t < until]
        down = [t for t, s in window if s == 503]
        if down:
            seen_503 += 1
            back = [t for t, s in window if s == 200 and t > down[0]]
            if back:
                recovery.append(back[0] - at)
    readyz_other = sorted({s for _, s in poller.samples if s not in (200, 503)})
    latencies = [a.latency for _, a in results if not isinstance(a, NoAnswer)]
    report("worker-crash", len(results), len(ok), len(failed), len(lost), kills=len(kills),
           readyz_503_after_kill=f"{seen_503}/{len(kills)}", max_recovery_s=round(max(recovery, default=0), 2),
           p99_ms=round(percentile(latencies, 99) * 1000, 1), max_ms=round(max(latencies, default=0) * 1000, 1))
    assert not lost, lost[:5]
    assert len(failed) <= len(kills)
    assert recovered, "/readyz did not come back to 200 with 2 workers"
    assert seen_503 == len(kills), f"/readyz stayed 200 after some kills: {seen_503}/{len(kills)}"
    assert not readyz_other, f"/readyz gave no answer: {readyz_other}"
