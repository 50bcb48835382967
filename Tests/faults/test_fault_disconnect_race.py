"""Promise 3b — client gone, at any moment: clients send a complete request and disconnect (FIN or RST)
after a random delay between 0 and 3 ms — around the moment the front queues the request — while the
worker is busy. None of them ever runs."""
import concurrent.futures
import random
import time

from faults_support import one, project_yaml, report, start_server, started, wait_for

from test_fault_client_gone import abandon, ok, raw_request

ROUNDS = 4
PER_ROUND = 60


def test_disconnect_race(tmp_path):
    log = tmp_path / "runs.txt"
    server = start_server(tmp_path, project_yaml(log))
    rng = random.Random(3)
    abandoned = []
    blockers = []
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            for r in range(ROUNDS):
                blocker = pool.submit(one, server.port, {"tag": f"blocker-{r}", "sleep": 1.5})
                assert wait_for(lambda: f"blocker-{r}" in started(log), 10)
                for i in range(PER_ROUND):
                    tag = f"race-{r}-{i}"
                    sock = raw_request(server.port, tag)
                    delay = rng.choice([0, rng.uniform(0, 0.0005), rng.uniform(0, 0.003)])
                    if delay:
                        time.sleep(delay)
                    abandon(sock, reset=rng.random() < 0.5)
                    abandoned.append(tag)
                blockers.append((f"blocker-{r}", blocker.result(30)))
        follow_up = one(server.port, {"tag": "after"})
        time.sleep(0.5)  # anything wrongly queued would have run by now
    finally:
        server.stop()
    runs = started(log)
    ran = [tag for tag in abandoned if tag in runs]
    answered = [tag for tag, answer in blockers if ok(answer, tag)]
    report("client-gone-race", len(abandoned) + len(blockers) + 1, len(answered) + ok(follow_up, "after"), 0,
           len(ran) + (len(blockers) - len(answered)) + (not ok(follow_up, "after")),
           abandoned=len(abandoned), ran_for_nobody=len(ran))
    assert not ran, ran[:10]
    assert len(answered) == len(blockers)
    assert ok(follow_up, "after")
