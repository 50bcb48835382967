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
        tag = f"{id(client):x}-{i}"
        try:
            results.append((tag, client.post_json("/echo", {"tag": tag})))
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
        time.sleep(2.0)
        signalled.append(time.monotonic())
        server.proc.send_signal(signal.SIGTERM)
        code = server.wait_exit(GRACE + 30)
        exited = time.monotonic() - signalled[0]
        for loop in loops:
            loop.stop()
        for loop in loops:
            loop.join(60)
        poller.stop()
        assert not [e for loop in loops for e in loop.errors]
    finally:
        server.stop()

    t_signal = signalled[0]
    ok, failed, lost, refused = [], [], [], []
    in_flight = 0
    for tag, answer in results:
        if isinstance(answer, NoAnswer):
            # Never written, or written after the signal and not answered: the server had stopped
            # accepting. Written before the signal and not answered: lost.
            if answer.written_at is None or answer.written_at >= t_signal:
                refused.append(tag)
            else:
                lost.append((tag, repr(answer)))
            continue
        body = json_or_none(answer)
        if answer.status == 200 and isinstance(body, dict) and body.get("tag") == tag:
            ok.append(tag)
            in_flight += answer.written_at < t_signal <= answer.answered_at
        elif answer.written_at >= t_signal and answer.status == 503:
            failed.append(tag)  # answered, but refused after the signal: counted, and asserted below
        else:
            lost.append((tag, answer.status, answer.body[:200]))
    posts = posted(log)
    missing_posts = sorted(set(ok) - set(posts))
    after = [(t, s) for t, s in poller.samples if t >= t_signal]
    first_not_ready = next((t - t_signal for t, s in after if s != 200), None)
    ready_after = [t - t_signal for t, s in after if s == 200]
    report("drain", len(results), len(ok), len(failed), len(lost), refused=len(refused),
           in_flight_at_signal=in_flight, post_predict=f"{len(posts)}/{len(ok)}", exit_code=code,
           exit_s=round(exited, 2), readyz_not_ready_after_ms=round((first_not_ready or 0) * 1000, 1),
           readyz_200_after_signal=len(ready_after), ran=len(started(log)))
    assert not lost, lost[:5]
    assert not failed, f"{len(failed)} requests were answered 503 after the signal"
    assert not missing_posts and len(posts) == len(ok), f"post_predict missing for {missing_posts[:5]}"
    assert code == 0
    assert exited < GRACE
    assert first_not_ready is not None and first_not_ready < 0.25
    assert not [t for t in ready_after if t > 0.1], "/readyz answered 200 after the signal"
