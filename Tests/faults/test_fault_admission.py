"""Promise 1 — admission: beyond autoscaling.max_replica_concurrency requests in flight plus queued, a
request gets an immediate 503 with Retry-After and a JSON body naming the limit; never a hang."""
import time

from faults_support import Loop, NoAnswer, carries_request_id, json_or_none, percentile, project_yaml, \
    report, start_server, started

LIMIT = 4
CLIENTS = 24
SECONDS = 3.0


def test_admission(tmp_path):
    log = tmp_path / "runs.txt"
    server = start_server(tmp_path, project_yaml(log, autoscaling=f"max_replica_concurrency: {LIMIT}", sleep=0.05))
    results = []  # (kind, tag, latency, detail)

    def step(client, i):
        tag = f"{id(client):x}-{i}"
        try:
            answer = client.post_json("/echo", {"tag": tag})
        except NoAnswer as e:
            results.append(("lost", tag, None, repr(e)))
            return
        body = json_or_none(answer)
        if answer.status == 200 and body == {"tag": tag, "pid": body.get("pid") if body else None}:
            results.append(("ok", tag, answer.latency, None))
        elif (answer.status == 503 and answer.headers.get("retry-after") == "1" and isinstance(body, dict)
              and body.get("limit") == LIMIT and "max_replica_concurrency" in body.get("error", "")
              and carries_request_id(answer)):
            results.append(("503", tag, answer.latency, None))
            time.sleep(0.02)  # a little breathing room, or 24 threads spin on 503s
        else:
            results.append(("lost", tag, answer.latency, f"{answer.status} {answer.headers} {answer.body[:200]!r}"))

    try:
        loops = [Loop(server.port, step) for _ in range(CLIENTS)]
        for loop in loops:
            loop.start()
        time.sleep(SECONDS)
        for loop in loops:
            loop.stop()
        for loop in loops:
            loop.join(120)
        assert not any(loop.is_alive() for loop in loops), "a client hangs"
        assert not [e for loop in loops for e in loop.errors]
    finally:
        server.stop()

    ok = [r for r in results if r[0] == "ok"]
    rejected = [r for r in results if r[0] == "503"]
    lost = [r for r in results if r[0] == "lost"]
    runs = started(log)
    ran_rejected = [r[1] for r in rejected if r[1] in runs]
    lat_503 = [r[2] for r in rejected]
    report("admission", len(results), len(ok), len(rejected), len(lost) + len(ran_rejected),
           limit=LIMIT, clients=CLIENTS, max_503_ms=round(max(lat_503, default=0) * 1000, 1),
           p99_503_ms=round(percentile(lat_503, 99) * 1000, 1), p99_200_ms=round(percentile([r[2] for r in ok], 99) * 1000, 1),
           rejected_that_ran=len(ran_rejected))
    assert not lost, lost[:5]
    assert not ran_rejected, ran_rejected[:5]
    assert len(ok) >= LIMIT and len(rejected) > 0, "the load did not reach the limit"
    assert set(runs) == {r[1] for r in ok}, "the predictor ran for requests that were not answered 200"
    assert max(lat_503) < 0.5, f"a 503 took {max(lat_503):.3f}s"
