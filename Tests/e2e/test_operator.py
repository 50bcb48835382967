"""The local operator through its CLI (`deploy`, `get`, `logs`, `delete`, `refresh`): state in a temporary
CORTEX_HOME, real workers, HTTP on loopback; every process the operator started is stopped at the end."""
import json
import os
import pathlib
import signal
import stat
import subprocess
import threading
import time
import collections

import pytest
import requests

from cortex_e2e import BIN, ECHO_YAML, Operator, assert_promtool_accepts, operator_processes, write_project

ECHO = {"cortex.yaml": ECHO_YAML, "predictor.py": """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return payload
"""}


def pid_predictor(version):
    return f"""
        import os

        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                return {{"version": {version}, "pid": os.getpid()}}
    """


def wait_until(condition, timeout, interval=0.1, message="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class Load:
    """Continuous POSTs from `threads` threads until stopped: counts answers by status and body."""

    def __init__(self, url, threads=4, payload=None):
        self.url, self.stop_at, self.payload = url, None, payload or {"x": 1}
        self.statuses = collections.Counter()
        self.failures = []
        self.bodies = []
        self.running = True
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self):
        session = requests.Session()
        while self.running:
            try:
                response = session.post(self.url, json=self.payload, timeout=30)
                self.statuses[response.status_code] += 1
                if response.status_code != 200:
                    self.failures.append((response.status_code, response.text))
                else:
                    self.bodies.append((time.time(), response.json()))
            except requests.RequestException as error:
                self.failures.append(("exception", repr(error)))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for thread in self.threads:
            thread.join()


def test_deploy_get_call_logs_delete(operator, tmp_path):
    project = write_project(tmp_path / "echo", ECHO)
    result = operator.deploy(project)
    assert "creating echo (RealtimeAPI)" in result.stdout
    assert f"api echo is live at {operator.url}/echo" in result.stdout

    response = operator.post("/echo", json={"hello": 1})
    assert response.status_code == 200 and response.json() == {"hello": 1}
    assert response.headers["x-request-id"]

    table = operator.cli("get").stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:3] == ["realtime", "api", "status"]
    assert row.split()[:4] == ["echo", "live", "1", "1"]

    detail = operator.cli("get", "echo").stdout
    assert f"endpoint: {operator.url}/echo" in detail
    assert f"curl {operator.url}/echo -X POST" in detail

    [api] = operator.get_json()
    assert api["spec"]["name"] == "echo"
    assert api["status"]["status_code"] == "status_live"
    assert api["endpoint"] == f"{operator.url}/echo"
    assert api["metrics"]["network_stats"]["code_2xx"] == 1

    # The request line, with its id, is in the API's log.
    assert wait_until(lambda: response.headers["x-request-id"] in operator.log("echo"), 5, message="request log line")
    assert "request_id=" in operator.cli("logs", "echo", "--no-follow", "--tail", "1").stdout

    assert operator.post("/healthz").status_code in (200, 405)
    assert requests.get(operator.url + "/readyz", timeout=10).status_code == 200
    metrics = requests.get(operator.url + "/metrics", timeout=10).text
    assert 'cortex_requests_total{api="echo",code="2XX"} 1' in metrics

    started = time.time()
    assert "deleted echo" in operator.cli("delete", "echo").stdout
    wait_until(lambda: operator.post("/echo", json={}).status_code == 404, 5, message="404 after delete")
    assert time.time() - started < 10
    assert operator.cli("get").stdout.strip() == "no apis are deployed"
    missing = operator.cli("get", "echo", check=False)
    assert missing.returncode == 1 and "api echo is not deployed" in missing.stderr
    assert not list((operator.home / "apis").iterdir())
    assert not list((operator.home / "projects").iterdir())


def test_validation_errors_exit_1_with_the_messages_of_validate(operator, tmp_path):
    project = write_project(tmp_path / "bad", {
        "cortex.yaml": """
            - name: bad
              kind: RealtimeAPI
              predictor:
                type: python
                path: predictor.py
                threads_per_process: 0
        """,
        "predictor.py": ECHO["predictor.py"],
    })
    deploy = operator.cli("deploy", str(project), check=False)
    validate = subprocess.run([BIN, "validate", str(project)], capture_output=True, text=True)
    assert deploy.returncode == 1 and validate.returncode == 1
    assert "api bad: predictor.threads_per_process: must be ≥ 1, got 0" in deploy.stderr
    assert deploy.stderr.strip() == validate.stderr.strip()


def test_wait_fails_with_the_cause_when_the_api_cannot_become_live(operator, tmp_path):
    project = write_project(tmp_path / "broken", {"cortex.yaml": ECHO_YAML, "predictor.py": """
        class PythonPredictor:
            def __init__(self, config):
                raise RuntimeError("the model file is corrupt")

            def predict(self, payload):
                return payload
    """})
    result = operator.deploy(project, check=False)
    assert result.returncode == 1
    assert "the model file is corrupt" in result.stderr
    [api] = operator.get_json()
    assert api["status"]["status_code"] == "status_error"
    assert "the model file is corrupt" in api["status"]["message"]


def test_logs_follows_predictor_output_within_a_second(operator, tmp_path):
    project = write_project(tmp_path / "printer", {"cortex.yaml": ECHO_YAML, "predictor.py": """
        class PythonPredictor:
            def __init__(self, config):
                print("constructed the predictor")

            def predict(self, payload):
                print("predicting", payload["token"], flush=True)
                return "ok"
    """})
    operator.deploy(project)
    follower = subprocess.Popen([BIN, "logs", "echo"], stdout=subprocess.PIPE, text=True, env=operator.env)
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True)
        reader.start()
        wait_until(lambda: any("constructed the predictor" in line for line in lines), 10, message="old lines")
        sent = time.time()
        assert operator.post("/echo", json={"token": "tok-4711"}).status_code == 200
        wait_until(lambda: any("predicting tok-4711" in line for line in lines), 1.5, interval=0.02,
                   message="the print in predict")
        assert time.time() - sent < 1.5
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(10)
    tail = operator.cli("logs", "echo", "--no-follow", "--tail", "2").stdout.splitlines()
    assert len(tail) == 2 and any("request_id=" in line for line in tail)


def test_state_belongs_to_the_user_alone(operator, tmp_path):
    operator.deploy(write_project(tmp_path / "echo", ECHO))
    home = operator.home
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "operator.sock").st_mode) == 0o600
    for path in [home / "logs" / "echo.log", home / "operator.log", *(home / "apis").iterdir()]:
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
    for folder in ["apis", "projects", "logs", "run"]:
        assert stat.S_IMODE(os.stat(home / folder).st_mode) == 0o700


def test_refuses_a_cortex_home_others_can_write_or_own(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    op = Operator(home=shared)
    result = op.cli("get", check=False)
    assert result.returncode == 1
    assert f"CORTEX_HOME {shared}: writable by others (mode 777)" in result.stderr
    assert not (shared / "operator.sock").exists()
    if os.getuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
        result = Operator(home=foreign).cli("get", check=False)
        assert result.returncode == 1 and "owned by uid 65534, not by you" in result.stderr


def test_one_operator_per_home_and_the_listener_is_loopback(operator, tmp_path):
    calls = [subprocess.Popen([BIN, "get"], env=operator.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]
    for call in calls:
        assert call.wait(60) == 0
    assert len(operator_processes(operator.home)) == 1
    listening = open("/proc/net/tcp").read()
    local = [line.split()[1] for line in listening.splitlines()[1:] if line.split()[3] == "0A"]
    assert f"0100007F:{operator.port:04X}" in local
    assert f"00000000:{operator.port:04X}" not in local


def test_the_project_is_snapshotted_at_deploy(operator, tmp_path):
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": pid_predictor(1)})
    operator.deploy(project)
    write_project(project, {"predictor.py": pid_predictor(2)})
    operator.cli("refresh", "echo")  # restarts the workers, from the snapshot
    time.sleep(3)
    assert operator.post("/echo", json={}).json()["version"] == 1
    operator.deploy(project)
    assert operator.post("/echo", json={}).json()["version"] == 2


def test_restart_and_kill_9_bring_every_api_back(operator, tmp_path):
    two = ECHO_YAML + """
- name: second
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
  networking:
    endpoint: /second
"""
    operator.deploy(write_project(tmp_path / "p", {**ECHO, "cortex.yaml": two}))
    first_pid = operator.pid()
    operator.kill(signal.SIGKILL)
    assert not operator.alive()
    # The next CLI call starts a new operator, which brings both APIs back from CORTEX_HOME.
    operator.cli("get")
    assert operator.pid() != first_pid
    wait_until(lambda: all(a["status"]["status_code"] == "status_live" for a in operator.get_json()), 60,
               message="both APIs live again")
    assert operator.post("/echo", json={"a": 1}).json() == {"a": 1}
    assert operator.post("/second", json={"b": 2}).json() == {"b": 2}
    # A graceful stop, then a start: the same.
    operator.kill(signal.SIGTERM)
    operator.cli("get")
    wait_until(lambda: operator.post("/second", json={}).status_code == 200, 60, message="second after restart")


def test_killed_at_any_moment_during_deploys_state_stays_whole(operator, tmp_path):
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": pid_predictor(0)})
    operator.deploy(project)
    for round in range(1, 7):
        write_project(project, {"predictor.py": pid_predictor(round)})
        deploy = subprocess.Popen([BIN, "deploy", str(project)], env=operator.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.02 * round)
        operator.kill(signal.SIGKILL)
        deploy.wait(60)
        # Every record is whole (a write killed half-way leaves only its temporary file).
        for record in (operator.home / "apis").glob("*.json"):
            json.loads(record.read_text())
    operator.cli("get")
    # The next operator removes what killed writes left.
    assert [p.name for p in (operator.home / "apis").iterdir()] == ["echo.json"]
    operator.deploy(project)
    assert operator.post("/echo", json={}).json()["version"] == 6
    assert not [p for p in (operator.home / "projects").iterdir() if p.name.startswith(".")]


def test_redeploy_rolls_over_under_load_without_failures(operator, tmp_path):
    yaml = ECHO_YAML + """
  autoscaling:
    min_replicas: 2
    max_replicas: 2
  update_strategy:
    max_surge: 1
    max_unavailable: 0
"""
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": pid_predictor(1)})
    operator.deploy(project)
    [api] = operator.get_json()
    assert api["status"]["replica_counts"] == {"updated": 2, "stale": 0, "requested": 2}
    with Load(operator.url + "/echo", threads=6) as load:
        time.sleep(1.5)
        write_project(project, {"predictor.py": pid_predictor(2)})
        operator.deploy(project)
        live_at = time.time()
        time.sleep(2)
    assert load.failures == [], load.failures[:5]
    new = [when for when, body in load.bodies if body["version"] == 2]
    assert new and min(new) - live_at < 3
    assert all(body["version"] == 2 for when, body in load.bodies if when > live_at + 0.5)
    old_pids = {body["pid"] for when, body in load.bodies if body["version"] == 1}
    new_pids = {body["pid"] for when, body in load.bodies if body["version"] == 2}
    assert len(old_pids) == 2 and len(new_pids) == 2 and not old_pids & new_pids

    # refresh: the same code on fresh workers, the same way.
    with Load(operator.url + "/echo", threads=6) as load:
        time.sleep(0.5)
        operator.cli("refresh", "echo")
        wait_until(lambda: not ({b["pid"] for _, b in load.bodies[-20:]} & new_pids), 30,
                   message="answers from the refreshed workers only")
        time.sleep(0.5)
    assert load.failures == [], load.failures[:5]


def test_delete_finishes_accepted_requests(operator, tmp_path):
    project = write_project(tmp_path / "slow", {"cortex.yaml": ECHO_YAML, "predictor.py": """
        import time

        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                time.sleep(2)
                return "finished"
    """})
    operator.deploy(project)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(operator.post("/echo", json={})))
    thread.start()
    time.sleep(0.5)
    operator.cli("delete", "echo")
    thread.join()
    assert answers[0].status_code == 200 and answers[0].text == "finished"
    assert operator.post("/echo", json={}).status_code == 404


def test_metrics_show_replicas_and_pass_promtool(operator, tmp_path):
    operator.deploy(write_project(tmp_path / "echo", ECHO))
    operator.post("/echo", json={})
    time.sleep(1.5)
    text = requests.get(operator.url + "/metrics", timeout=10).text
    assert 'cortex_replicas{api="echo"} 1' in text
    assert 'cortex_replicas_desired{api="echo"} 1' in text
    assert_promtool_accepts(text)


def test_a_taken_port_fails_fast_with_the_reason(operator):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", operator.port))
        taken.listen()
        started = time.time()
        result = operator.cli("get", check=False)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{operator.port}: the port is in use" in result.stderr
    assert time.time() - started < 10


def test_a_failing_dependencies_script_stops_the_deploy_with_its_output(operator, tmp_path):
    project = write_project(tmp_path / "deps", {**ECHO, "dependencies.sh": """
        echo "installing the system library"
        echo "libfoo: not found" >&2
        exit 3
    """})
    result = operator.deploy(project, check=False)
    assert result.returncode == 1
    assert "dependencies.sh" in result.stderr and "libfoo: not found" in result.stderr
    [api] = operator.get_json()
    assert api["status"]["status_code"] == "status_error"


def test_requests_go_to_the_replica_with_the_fewest_outstanding(operator, tmp_path):
    yaml = ECHO_YAML + """
  autoscaling:
    min_replicas: 2
    max_replicas: 2
"""
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": """
        import os
        import time

        class PythonPredictor:
            def __init__(self, config):
                pass

            def predict(self, payload):
                time.sleep(payload.get("sleep", 0))
                return {"pid": os.getpid()}
    """})
    operator.deploy(project)
    slow = []
    thread = threading.Thread(target=lambda: slow.append(operator.post("/echo", json={"sleep": 3}).json()["pid"]))
    thread.start()
    time.sleep(0.5)
    # One replica holds the slow request: every other request goes to the idle one.
    fast = {operator.post("/echo", json={}).json()["pid"] for _ in range(8)}
    thread.join()
    assert len(fast) == 1 and slow[0] not in fast
    # Idle again: ties rotate, so a lone client reaches both replicas.
    assert len({operator.post("/echo", json={}).json()["pid"] for _ in range(8)}) == 2


def test_models_outside_the_snapshot_are_live_reloaded_in_every_replica(operator, tmp_path):
    from test_model_serving import TEXT_MODEL_PREDICTOR
    models = tmp_path / "models"
    write_project(models, {"1/model.txt": "one"})
    yaml = f"""
- name: texts
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    model_path: {models}
    model_poll_interval: 0.5s
  autoscaling:
    min_replicas: 2
    max_replicas: 2
"""
    operator.deploy(write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": TEXT_MODEL_PREDICTOR}))
    assert {operator.post("/texts", json={}).json()["answer"] for _ in range(4)} == {"one"}
    write_project(models, {"2/model.txt": "two"})
    # Both replicas serve the new version (ties rotate, so 6 calls reach both).
    wait_until(lambda: {operator.post("/texts", json={}).json()["answer"] for _ in range(6)} == {"two"}, 15,
               message="version 2 in every replica")
    summary = requests.get(operator.url + "/texts", timeout=10).json()
    assert summary["model_metadata"]["_cortex_default"]["latest"] == "2"


def test_an_api_log_is_rotated_past_its_size_limit(tmp_path):
    op = Operator()
    op.env["CORTEX_LOG_MAX_BYTES"] = "4096"
    try:
        op.deploy(write_project(tmp_path / "echo", ECHO))
        ids = [op.post("/echo", json={}).headers["x-request-id"] for _ in range(120)]
        log, previous = op.home / "logs" / "echo.log", op.home / "logs" / "echo.log.1"
        wait_until(lambda: previous.exists() and ids[-1] in log.read_text() + previous.read_text(), 5,
                   message="a rotated log")
        assert previous.stat().st_size > 4096 and log.stat().st_size < 4096 + 2048
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
        assert ids[-1] in op.cli("logs", "echo", "--no-follow").stdout + previous.read_text()
        op.cli("delete", "echo")
        assert not log.exists() and not previous.exists()
    finally:
        op.stop()
    bad = Operator()
    bad.env["CORTEX_LOG_MAX_BYTES"] = "10"
    try:
        result = bad.cli("get", check=False)
        assert result.returncode == 1 and "CORTEX_LOG_MAX_BYTES must be a number of bytes ≥ 4096, got 10" in result.stderr
    finally:
        bad.stop()
