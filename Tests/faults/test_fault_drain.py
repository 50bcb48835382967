"""Promise 5 — drain: under steady load, SIGTERM to `cortex serve`. /readyz turns 503 at once; every
request the server had accepted is answered and its post_predict runs; nothing accepted fails (a
connection refused or reset before any answer *after* the signal is not a failure: counted as
refused); `serve` exits 0 within the grace period."""
import signal
import time

from faults_support import Loop, NoAnswer, ReadyzPoller, json_or_none, posted, project_yaml, report, \
    start_server, started

CLIENTS = 12
GRACE = 20


def test_drain(tmp_path):
    log = tmp_path / "runs.txt"
    server = start_server(tmp_path, project_yaml(log, predictor="processes_per_replica: 2", sleep=0.02),
                          args=["--grace", str(GRACE)])
    results = []  # (tag, Answer or NoAnswer)
    signalled = []

    def step(client, i):
        tag = i if isinstance(i, str) else f"{id(client):x}-{i}"
        try:
            results.append((tag, client.post_json("/echo", {"tag": tag, "sleep": 1.5 if tag == "slow" else 0.02})))
        except NoAnswer as e:
            results.append((tag, e))
            if signalled:
                return False  # the server is going away: this client stops

    poller = ReadyzPoller(server.port, interval=0.005)
    loops = [Loop(server.port, step) for _ in range(CLIENTS)]
    try:
        poller.start()
        for loop in loops:
            loop.start()
        time.sleep(1.8)
        # One long request in flight at the signal: the drain must wait for it and its post_predict.
        slow = Loop(server.port, lambda client, i: step(client, "slow") if i == 0 else False)
        slow.start()
        time.sleep(0.2)
        signalled.append(time.monotonic())
        server.proc.send_signal(signal.SIGTERM)
        code = server.wait_exit(GRACE + 30)
        exited = time.monotonic() - signalled[0]
        for loop in loops:
            loop.stop()
        for loop in loops + [slow]:
            loop.join(60)
        poller.stop()
        assert not [e for loop in loops for e in loop.errors]
    finally:
        server.stop()

    t_signal = signalled[0]
    ok, failed, lost, refused = [], [], [], []
    in_flight = closing = 0
    for tag, answer in results:
        if isinstance(answer, NoAnswer):
            # Written (or, never written, begun) after the signal and not answered: the server had
            # stopped accepting. Written before the signal and not answered: lost.
            if (answer.written_at or answer.sent_at + 0.1) >= t_signal:
                refused.append(answer.kind)
            else:
                lost.append((tag, repr(answer)))
            continue
        body = json_or_none(answer)
        if answer.status == 200 and isinstance(body, dict) and body.get("tag") == tag:
            ok.append(tag)
            # In flight at the signal and answered once the server had seen it (it flips /readyz within
            # a few ms; an answer already on its way at the signal may not carry the header).
            if answer.written_at < t_signal and answer.answered_at >= t_signal + 0.02:
                in_flight += 1
                closing += answer.headers.get("connection", "").lower() == "close"
        elif answer.written_at >= t_signal and answer.status == 503:
            failed.append(tag)  # answered, but refused after the signal: counted, and asserted below
        else:
            lost.append((tag, answer.status, answer.body[:200]))
    posts = posted(log)
    missing_posts = sorted(set(ok) - set(posts))
    after = [(t, s) for t, s in poller.samples if t >= t_signal]
    first_not_ready = next((t - t_signal for t, s in after if s != 200), None)
    ready_after = [t - t_signal for t, s in after if s == 200]
    readyz = {}
    for _, status in after:
        readyz[status] = readyz.get(status, 0) + 1
    report("drain", len(results), len(ok), len(failed), len(lost), refused=len(refused),
           refused_kinds=",".join(f"{k}:{refused.count(k)}" for k in sorted(set(refused))) or "-",
           in_flight_at_signal=in_flight,
           connection_close_sent=f"{closing}/{in_flight}", post_predict=f"{len(posts)}/{len(ok)}", exit_code=code,
           exit_s=round(exited, 2), readyz_not_ready_after_ms=round((first_not_ready or 0) * 1000, 1),
           readyz_after_signal=",".join(f"{k}:{v}" for k, v in sorted(readyz.items(), key=str)) or "-",
           ran=len(started(log)))
    assert not lost, lost[:5]
    assert not failed, f"{len(failed)} requests were answered 503 after the signal"
    assert in_flight > 0 and closing == in_flight, f"Connection: close on {closing} of {in_flight} in-flight answers"
    assert not missing_posts and len(posts) == len(ok), f"post_predict missing for {missing_posts[:5]}"
    assert code == 0
    assert "slow" in ok, "the long request in flight at the signal did not complete"
    assert exited < GRACE
    assert first_not_ready is not None and first_not_ready < 0.25
    assert not [t for t in ready_after if t > 0.1], "/readyz answered 200 after the signal"
