"""The predictor contract, routes, parallelism, logs (issue 2, items 4, 7, 10)."""
import concurrent.futures
import os
import time

from cortex_e2e import ECHO_YAML

CONTRACT = '''
import os
import time
COUNTER_FILE = os.environ["COUNTER_FILE"]
with open(COUNTER_FILE, "a") as f:
    f.write("module\\n")


class PythonPredictor:
    def __init__(self, config):
        config["mutated"] = True
        self.config = config
        print("predictor constructed", flush=True)

    def predict(self, headers, payload):
        print("predicting", payload, flush=True)
        return {"config": self.config, "header": headers.get("x-test")}

    def post_predict(self, response, payload):
        time.sleep(0.3)
        with open(COUNTER_FILE, "a") as f:
            f.write(f"post {response['config']['k']} {payload['n']}\\n")
'''


def test_contract_config_declared_args_post_predict_and_logs(serve, tmp_path):
    counter = tmp_path / "counter.txt"
    yaml = ECHO_YAML + f"""    config:
      k: v
      nested: {{a: [1, 2]}}
    env:
      COUNTER_FILE: {counter}
"""
    s = serve({"cortex.yaml": yaml, "predictor.py": CONTRACT})
    started = time.time()
    r = s.post("/echo", json={"n": 7}, headers={"X-Test": "hi"})
    elapsed = time.time() - started
    assert r.status_code == 200
    assert r.json() == {"config": {"k": "v", "nested": {"a": [1, 2]}, "mutated": True}, "header": "hi"}
    # post_predict runs after the response was sent: the client did not wait for its sleep.
    assert elapsed < 0.3
    assert "post" not in counter.read_text()
    deadline = time.time() + 10
    while "post v 7" not in counter.read_text() and time.time() < deadline:
        time.sleep(0.05)
    assert counter.read_text().splitlines() == ["module", "post v 7"]
    # predictor output reaches the server log tagged with API and worker; one line per request.
    logs = s.stderr()
    assert "[api=echo worker=0] predictor constructed" in logs
    assert "[api=echo worker=0] predicting {'n': 7}" in logs
    request_lines = [l for l in logs.splitlines() if " request " in l and "request_id=" in l]
    assert len(request_lines) == 1
    assert "status=200" in request_lines[0] and "latency_ms=" in request_lines[0]
    assert r.headers["x-request-id"] in request_lines[0]


def test_sigterm_finishes_in_flight_requests_and_post_predict(serve, tmp_path):
    counter = tmp_path / "counter.txt"
    yaml = ECHO_YAML + f"""    env:
      COUNTER_FILE: {counter}
"""
    predictor = '''
import os, time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        time.sleep(1)
        return payload
    def post_predict(self, payload):
        time.sleep(1)
        with open(os.environ["COUNTER_FILE"], "a") as f:
            f.write(f"post {payload}\\n")
'''
    s = serve({"cortex.yaml": yaml, "predictor.py": predictor})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(s.post, "/echo", json=5)
        time.sleep(0.4)
        s.proc.terminate()
        assert future.result().json() == 5
    assert s.wait_exit(30) == 0
    assert counter.read_text() == "post 5\n"


def test_class_without_init_and_routes(serve):
    predictor = '''
class PythonPredictor:
    def predict(self):
        return "no args at all"
'''
    s = serve({"cortex.yaml": ECHO_YAML + "  networking:\n    endpoint: /v1/echo\n", "predictor.py": predictor})
    assert s.post("/v1/echo", data=b"x").text == "no args at all"
    assert s.post("/v1/echo/").text == "no args at all"
    summary = s.get("/v1/echo")
    assert summary.status_code == 200 and "make a prediction" in summary.json()["message"]
    assert s.get("/healthz").status_code == 200
    assert s.get("/readyz").json() == {"ready": True}
    assert s.post("/echo").status_code == 404
    r = s.post("/nope")
    assert r.status_code == 404 and "error" in r.json()
    r = __import__("requests").put(s.url + "/v1/echo")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"


def test_processes_and_threads_run_in_parallel(serve):
    predictor = '''
import os, threading, time
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        time.sleep(1)
        return {"pid": os.getpid(), "thread": threading.get_ident()}
'''
    yaml = ECHO_YAML + "    processes_per_replica: 2\n    threads_per_process: 2\n"
    s = serve({"cortex.yaml": yaml, "predictor.py": predictor})
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: s.post("/echo", json={}).json(), range(8)))
    elapsed = time.time() - started
    # 8 one-second requests on 2 processes × 2 threads: two rounds, not eight.
    assert 1.9 < elapsed < 3.5, elapsed
    assert len({r["pid"] for r in results}) == 2
    assert len({(r["pid"], r["thread"]) for r in results}) == 4


def test_local_port_serves_the_api_alone(serve):
    from cortex_e2e import free_port
    port = free_port()
    predictor = "class PythonPredictor:\n    def __init__(self, config):\n        pass\n    def predict(self, payload):\n        return payload\n"
    s = serve({"cortex.yaml": ECHO_YAML + f"  networking:\n    local_port: {port}\n", "predictor.py": predictor})
    import requests
    assert requests.post(f"http://127.0.0.1:{port}/", json=[1]).json() == [1]
    assert requests.post(f"http://127.0.0.1:{port}/predict", json=[2]).json() == [2]
    assert s.post("/echo", json=[3]).json() == [3]


def test_readyz_lists_apis_whose_workers_are_not_ready(tmp_path):
    import requests
    from cortex_e2e import Server, write_project
    predictor = "import time\nclass PythonPredictor:\n    def __init__(self, config):\n        time.sleep(3)\n" \
                "    def predict(self):\n        return 1\n"
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": predictor})
    s = Server(project).start(wait=False)
    try:
        deadline = time.time() + 60
        body = None
        while time.time() < deadline:
            try:
                r = requests.get(s.url + "/readyz", timeout=1)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if r.status_code == 503:
                body = r.json()
                break
            time.sleep(0.05)
        assert body == {"ready": False, "not_ready": [{"api": "echo", "ready_workers": 0, "workers": 1}]}
        assert requests.get(s.url + "/healthz").status_code == 200
        s.wait_ready()
        assert s.post("/echo").json() == 1
    finally:
        s.stop()


def test_cortex_preinstalled_packages_need_no_requirements(serve):
    predictor = '''
import boto3, cloudpickle, dill, joblib, msgpack, numpy, requests, six, yaml
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        return {"sum": int(numpy.array(payload).sum()), "yaml": yaml.safe_load("a: 1")}
'''
    s = serve({"cortex.yaml": ECHO_YAML, "predictor.py": predictor})
    assert s.post("/echo", json=[1, 2, 3]).json() == {"sum": 6, "yaml": {"a": 1}}
