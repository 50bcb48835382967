"""Promise 3 — client gone: a client that disconnects before its request starts never has the
predictor run for it (whether it waited in the front's queue or in a worker's prefetch window)."""
import concurrent.futures
import json
import socket
import struct
import time

from faults_support import one, Client, NoAnswer, json_or_none, project_yaml, report, start_server, started, wait_for

WHOLE = 48  # complete requests, abandoned while queued (more than the worker's prefetch window of 32)
PARTIAL = 10  # requests abandoned half-way through their body
FOLLOW_UP = 5


def raw_request(port, tag, partial=False):
    body = json.dumps({"tag": tag}).encode()
    head = (f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) + (100 if partial else 0)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body)
    return sock


def abandon(sock, reset):
    if reset:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def ok(answer, tag):
    return not isinstance(answer, NoAnswer) and answer.status == 200 and (json_or_none(answer) or {}).get("tag") == tag


def test_client_gone(tmp_path):
    log = tmp_path / "runs.txt"
    server = start_server(tmp_path, project_yaml(log))
    abandoned = [f"whole-{i}" for i in range(WHOLE)] + [f"partial-{i}" for i in range(PARTIAL)]
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            blocker = pool.submit(one, server.port, {"tag": "blocker", "sleep": 2.0})
            assert wait_for(lambda: "blocker" in started(log), 10)
            socks = [raw_request(server.port, f"whole-{i}") for i in range(WHOLE)]
            socks += [raw_request(server.port, f"partial-{i}", partial=True) for i in range(PARTIAL)]
            # Leave at staggered moments while the blocker runs: at once, after 0.1 s, after 0.5 s.
            for i, sock in enumerate(socks):
                if i % 3 == 0:
                    abandon(sock, reset=i % 2 == 0)
            time.sleep(0.1)
            for i, sock in enumerate(socks):
                if i % 3 == 1:
                    abandon(sock, reset=i % 2 == 0)
            time.sleep(0.4)
            for i, sock in enumerate(socks):
                if i % 3 == 2:
                    abandon(sock, reset=i % 2 == 0)
            first = blocker.result()
        follow = [one(server.port, {"tag": f"after-{i}"}) for i in range(FOLLOW_UP)]
        time.sleep(0.5)  # anything wrongly dispatched would have started by now
    finally:
        server.stop()

    runs = started(log)
    ran_for_nobody = sorted(tag for tag in abandoned if tag in runs)
    controls_ok = ok(first, "blocker") + sum(ok(a, f"after-{i}") for i, a in enumerate(follow))
    controls = 1 + FOLLOW_UP
    # An abandoned request succeeds when it never ran; a control request when it got its 200.
    report("client-gone", len(abandoned) + controls, controls_ok + len(abandoned) - len(ran_for_nobody), 0,
           (controls - controls_ok) + len(ran_for_nobody),
           abandoned=len(abandoned), ran_for_nobody=len(ran_for_nobody))
    assert not ran_for_nobody, f"the predictor ran for clients that had gone: {ran_for_nobody}"
    assert controls_ok == controls, (first, follow)
    assert set(runs) == {"blocker"} | {f"after-{i}" for i in range(FOLLOW_UP)}
