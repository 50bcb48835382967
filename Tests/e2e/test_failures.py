"""Bad predictors and dying workers (issue 2, item 9)."""
import concurrent.futures
import os
import signal
import time

from cortex_e2e import ECHO_YAML, Server, child_pids, run_cli, write_project


def start_failing(tmp_path, predictor, yaml=ECHO_YAML):
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": predictor})
    s = Server(project)
    code = s.exit_code_of_start(120)
    return code, s.stderr()


def test_syntax_error_exits_with_file_and_line(tmp_path):
    code, err = start_failing(tmp_path, "class PythonPredictor:\n    def predict(self)\n        return 1\n")
    assert code != 0
    assert "predictor.py" in err and "line 2" in err and "SyntaxError" in err


def test_missing_class_exits(tmp_path):
    code, err = start_failing(tmp_path, "class Predictor:\n    pass\n")
    assert code != 0 and "PythonPredictor" in err


def test_constructor_raising_exits_with_traceback(tmp_path):
    code, err = start_failing(tmp_path, "class PythonPredictor:\n    def __init__(self, config):\n"
                                        "        raise ValueError('cannot load the model')\n"
                                        "    def predict(self):\n        return 1\n")
    assert code != 0 and "ValueError: cannot load the model" in err and "Traceback" in err


def test_unsupported_argument_names_the_method(tmp_path):
    code, err = start_failing(tmp_path, "class PythonPredictor:\n    def __init__(self, config):\n        pass\n"
                                        "    def predict(self, payload, body):\n        return 1\n")
    assert code != 0 and "predict" in err and "'body'" in err


def test_a_dying_worker_fails_its_request_fast_and_is_respawned(tmp_path):
    predictor = '''
import os, time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        if payload.get("die"):
            os._exit(3)
        if payload.get("sleep"):
            time.sleep(payload["sleep"])
        return os.getpid()
'''
    yaml = ECHO_YAML + "    processes_per_replica: 2\n"
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": predictor})
    s = Server(project).start()
    try:
        started = time.time()
        r = s.post("/echo", json={"die": True})
        assert r.status_code >= 500 and time.time() - started < 1.5
        assert r.json()["request_id"] == r.headers["x-request-id"]
        # The other worker keeps serving while the dead one comes back.
        pids = {s.post("/echo", json={}).json() for _ in range(10)}
        assert pids
        deadline = time.time() + 20
        while time.time() < deadline and s.get("/readyz").status_code != 200:
            time.sleep(0.1)
        assert s.get("/readyz").status_code == 200
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: s.post("/echo", json={"sleep": 0.3}).json(), range(4)))
        assert len(set(results)) == 2
    finally:
        s.stop()


def test_kill_9_while_queued_requests_move_to_the_other_worker(tmp_path):
    predictor = '''
import os, time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        time.sleep(0.5)
        return os.getpid()
'''
    yaml = ECHO_YAML + "    processes_per_replica: 2\n"
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": predictor})
    s = Server(project).start()
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(s.post, "/echo", json={}) for _ in range(12)]
            time.sleep(0.2)
            # Find a worker pid from the process tree and kill it.
            os.kill(child_pids(s.proc.pid)[0], signal.SIGKILL)
            statuses = [f.result().status_code for f in futures]
        failed = [c for c in statuses if c != 200]
        # Only the request running on the killed worker fails; everything queued is served.
        assert len(failed) <= 1, statuses
        assert all(c >= 500 for c in failed)
    finally:
        s.stop()


def test_validate(tmp_path):
    good = write_project(tmp_path / "good", {"cortex.yaml": ECHO_YAML, "predictor.py": "class PythonPredictor: pass\n"})
    result = run_cli("validate", str(good))
    assert result.returncode == 0, result.stderr
    assert '"threads_per_process" : 1' in result.stdout or '"threads_per_process": 1' in result.stdout
    assert "/echo" in result.stdout
    bad = write_project(tmp_path / "bad", {
        "cortex.yaml": ECHO_YAML + "    threads_per_process: 0\n    colour: red\n",
        "predictor.py": "class PythonPredictor: pass\n"})
    result = run_cli("validate", str(bad / "cortex.yaml"))
    assert result.returncode == 1
    assert "api echo: predictor.threads_per_process: must be ≥ 1, got 0" in result.stderr
    assert "colour" in result.stderr
    missing = write_project(tmp_path / "missing", {"cortex.yaml": ECHO_YAML})
    result = run_cli("validate", str(missing))
    assert result.returncode == 1 and "predictor.py" in result.stderr
    # serve refuses the same config without starting anything.
    s = Server(bad).start(wait=False)
    assert s.wait_exit(60) != 0
    assert "threads_per_process" in s.stderr()


def test_a_port_in_use_is_a_clear_error_not_a_hang(tmp_path):
    import socket as sockets
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML,
                                             "predictor.py": "class PythonPredictor:\n    def predict(self):\n        return 1\n"})
    with sockets.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        s = Server(project, port=taken.getsockname()[1])
        assert s.exit_code_of_start(60) != 0
    assert "already in use" in s.stderr()


def test_validate_checks_the_class_matches_the_predictor_type(tmp_path):
    yaml = ECHO_YAML.replace("type: python", "type: onnx") + "    model_path: model\n"
    project = write_project(tmp_path / "p", {"cortex.yaml": yaml, "model/model.onnx": b"\0",
                                             "predictor.py": "class PythonPredictor:\n    pass\n"})
    result = run_cli("validate", str(project))
    assert result.returncode == 1
    assert "does not define class ONNXPredictor" in result.stderr and "PythonPredictor" in result.stderr
    imported = write_project(tmp_path / "q", {"cortex.yaml": ECHO_YAML, "impl.py": "class PythonPredictor: pass\n",
                                              "predictor.py": "from impl import PythonPredictor\n"})
    assert run_cli("validate", str(imported)).returncode == 0
