"""Models end to end (docs/CORTEX-COMPATIBILITY.md §5-6, docs/PROTOCOL.md "MODELS"): python_client versions, live
reloading of local folders, several models, invalid layouts, the onnx-iris / tensorflow-iris /
live-reloading examples, and S3 model paths against a real S3 server (moto in server mode).

Real binary, real onnxruntime / tensorflow in the environments cortex builds, real S3 protocol; the
test models are built with the test venv's scikit-learn / skl2onnx / tensorflow (scripts/test.sh)."""
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from cortex_e2e import ROOT, Server, free_port, write_project

EXAMPLES = ROOT / "examples"

# A python_client predictor whose "model" is the text of model.txt in the version folder.
TEXT_MODEL_PREDICTOR = '''
import os, time

class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client
        self.load_delay = float(config.get("load_delay", 0))

    def load_model(self, model_path):
        time.sleep(self.load_delay)
        with open(os.path.join(model_path, "model.txt")) as f:
            return f.read().strip()

    def predict(self, payload, query_params):
        name = query_params.get("model")
        version = query_params.get("version", "latest")
        return {"answer": self.client.get_model(name, version)}
'''

SINGLE_YAML = """
- name: texts
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    model_path: models
"""

IRIS_SAMPLES = [  # the seed's iris payloads and what every reasonable iris classifier answers
    ({"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}, "setosa"),
    ({"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}, "versicolor"),
    ({"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}, "virginica"),
]

MPG_PAYLOAD = {"cylinders": 4, "displacement": 135, "horsepower": 84, "weight": 2490, "acceleration": 15.7}


def add_version(models_dir, version, text):
    """Adds a version the way a careful user does: written in a hidden folder, then renamed in."""
    models_dir = pathlib.Path(models_dir)
    staging = models_dir / f".{version}.tmp"
    staging.mkdir(parents=True)
    (staging / "model.txt").write_text(text)
    staging.rename(models_dir / str(version))


def wait_for(predicate, timeout, interval=0.1):
    """Polls predicate() until it returns a truthy value; -> (value, seconds taken)."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met after {timeout}s")
        time.sleep(interval)


def copy_example(name, tmp_path):
    """A copy of examples/<name> without built models or staging folders."""
    return pathlib.Path(shutil.copytree(
        EXAMPLES / name, tmp_path / name, ignore=shutil.ignore_patterns("model", "models", ".cortex", "__pycache__")))


def run_build(project, *args, timeout=600):
    result = subprocess.run([sys.executable, str(project / "build_model.py"), *args], cwd=project,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def started(server, request):
    request.addfinalizer(server.stop)
    return server.start()


# --------------------------------------------------------------------------- python_client versions

def test_python_client_versions(serve):
    s = serve({"cortex.yaml": SINGLE_YAML, "predictor.py": TEXT_MODEL_PREDICTOR,
               "models/1/model.txt": "one", "models/2/model.txt": "two"})
    assert s.post("/texts", json={}).json() == {"answer": "two"}  # latest
    assert s.post("/texts?version=latest", json={}).json() == {"answer": "two"}
    assert s.post("/texts?version=1", json={}).json() == {"answer": "one"}
    assert s.post("/texts?version=2", json={}).json() == {"answer": "two"}
    r = s.post("/texts?version=7", json={})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert "7" in r.json()["error"] and "1, 2" in r.json()["error"]
    r = s.post("/texts?version=banana", json={})
    assert r.status_code == 400 and "latest" in r.json()["error"]
    summary = s.get("/texts").json()
    assert summary["message"].startswith("make a prediction")
    assert summary["model_metadata"] == {"_cortex_default": {"versions": ["1", "2"], "latest": "2"}}


def test_unversioned_folder_is_version_1(serve):
    s = serve({"cortex.yaml": SINGLE_YAML, "predictor.py": TEXT_MODEL_PREDICTOR, "models/model.txt": "only"})
    assert s.post("/texts", json={}).json() == {"answer": "only"}
    assert s.post("/texts?version=1", json={}).json() == {"answer": "only"}
    assert s.post("/texts?version=2", json={}).status_code == 404
    assert s.get("/texts").json()["model_metadata"] == {"_cortex_default": {"versions": ["1"], "latest": "1"}}


# --------------------------------------------------------------------------- live reloading

def test_live_reload_add_change_remove_without_failed_requests(serve):
    yaml = SINGLE_YAML + """    model_poll_interval: 0.5s
    processes_per_replica: 2
    threads_per_process: 2
    config:
      load_delay: 0.5
"""
    s = serve({"cortex.yaml": yaml, "predictor.py": TEXT_MODEL_PREDICTOR,
               "models/1/model.txt": "one", "models/2/model.txt": "two"})
    models = s.project / "models"
    answers, failures, stop = [], [], threading.Event()

    def hammer():
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    r = session.post(s.url + "/texts", json={}, timeout=30)
                    if r.status_code == 200:
                        answers.append((time.monotonic(), r.json()["answer"]))
                    else:
                        failures.append((r.status_code, r.text))
                except requests.RequestException as e:
                    failures.append(("exception", repr(e)))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(answers) > 20, 30)
        assert {a for _, a in answers} == {"two"}

        # a new version: served as latest within a few seconds, and by version number
        add_version(models, 3, "three")
        added = time.monotonic()
        _, took = wait_for(lambda: any(t > added and a == "three" for t, a in answers), 10)
        print(f"version 3 served as latest {took:.2f}s after it was added")
        wait_for(lambda: s.post("/texts?version=3", json={}).json() == {"answer": "three"}, 10)
        assert s.get("/texts").json()["model_metadata"]["_cortex_default"] == {
            "versions": ["1", "2", "3"], "latest": "3"}

        # the version's file changes: reloaded
        (models / "3" / "model.txt").write_text("three, retrained")
        changed = time.monotonic()
        _, took = wait_for(lambda: any(t > changed and a == "three, retrained" for t, a in answers), 10)
        print(f"changed version 3 served {took:.2f}s after the change")
        assert s.post("/texts?version=3", json={}).json() == {"answer": "three, retrained"}

        # the version is removed: 404 for it, latest is 2 again
        shutil.rmtree(models / "3")
        removed = time.monotonic()
        _, took = wait_for(lambda: s.post("/texts?version=3", json={}).status_code == 404, 10)
        print(f"version 3 gone {took:.2f}s after it was removed")
        r = s.post("/texts?version=3", json={})
        assert r.status_code == 404 and "1, 2" in r.json()["error"]
        wait_for(lambda: any(t > removed + took and a == "two" for t, a in answers), 10)
        assert s.get("/texts").json()["model_metadata"]["_cortex_default"] == {"versions": ["1", "2"], "latest": "2"}
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [], failures[:5]
    after_removal = [a for t, a in answers if t > removed + took + 0.5]
    assert after_removal and set(after_removal) == {"two"}
    print(f"{len(answers)} requests, none failed")


def test_broken_new_version_keeps_serving_the_loaded_one(serve):
    s = serve({"cortex.yaml": SINGLE_YAML + "    model_poll_interval: 0.5s\n", "predictor.py": TEXT_MODEL_PREDICTOR,
               "models/1/model.txt": "one"})
    assert s.post("/texts", json={}).json() == {"answer": "one"}
    (s.project / "models" / ".2.tmp").mkdir()
    (s.project / "models" / ".2.tmp" / "not-model.txt").write_text("load_model raises FileNotFoundError")
    (s.project / "models" / ".2.tmp").rename(s.project / "models" / "2")
    wait_for(lambda: s.get("/texts").json()["model_metadata"]["_cortex_default"]["latest"] == "2", 10)
    time.sleep(1)
    # latest: the newest version that loads; asking for the broken one by number: 500
    assert s.post("/texts", json={}).json() == {"answer": "one"}
    r = s.post("/texts?version=2", json={})
    assert r.status_code == 500


# --------------------------------------------------------------------------- several models

MULTI_YAML = """
- name: by-paths
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    models:
      paths:
        - name: alpha
          model_path: store/alpha
        - name: beta
          model_path: store/beta
- name: by-dir
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    models:
      dir: zoo
"""


def test_several_models_paths_and_dir(serve):
    s = serve({"cortex.yaml": MULTI_YAML, "predictor.py": TEXT_MODEL_PREDICTOR,
               "store/alpha/1/model.txt": "alpha one", "store/alpha/2/model.txt": "alpha two",
               "store/beta/model.txt": "beta",
               "zoo/cat/1/model.txt": "cat one", "zoo/cat/3/model.txt": "cat three", "zoo/dog/model.txt": "dog"})
    for endpoint, expected in [
        ("/by-paths", {"alpha": ("alpha two", {"1": "alpha one"}), "beta": ("beta", {"1": "beta"})}),
        ("/by-dir", {"cat": ("cat three", {"1": "cat one", "3": "cat three"}), "dog": ("dog", {"1": "dog"})}),
    ]:
        for name, (latest, versions) in expected.items():
            assert s.post(f"{endpoint}?model={name}", json={}).json() == {"answer": latest}
            for version, answer in versions.items():
                assert s.post(f"{endpoint}?model={name}&version={version}", json={}).json() == {"answer": answer}
        names = sorted(expected)
        r = s.post(f"{endpoint}?model=unicorn", json={})
        assert r.status_code == 404, r.text
        assert "unicorn" in r.json()["error"] and all(n in r.json()["error"] for n in names)
        r = s.post(endpoint, json={})  # no model name with several models
        assert r.status_code == 400, r.text
        assert "model_name" in r.json()["error"]
        r = s.post(f"{endpoint}?model={names[0]}&version=9", json={})
        assert r.status_code == 404 and "9" in r.json()["error"]
    assert s.get("/by-paths").json()["model_metadata"] == {
        "alpha": {"versions": ["1", "2"], "latest": "2"}, "beta": {"versions": ["1"], "latest": "1"}}
    assert s.get("/by-dir").json()["model_metadata"] == {
        "cat": {"versions": ["1", "3"], "latest": "3"}, "dog": {"versions": ["1"], "latest": "1"}}


# --------------------------------------------------------------------------- invalid layouts

ONNX_PREDICTOR = '''
class ONNXPredictor:
    def __init__(self, onnx_client, config):
        self.client = onnx_client
    def predict(self, payload):
        return self.client.predict(payload)
'''


@pytest.mark.parametrize("case", ["onnx-two-files", "non-integer-folder", "negative-folder"])
def test_invalid_layout_stops_serve_naming_the_path(tmp_path, case):
    if case == "onnx-two-files":
        files = {"cortex.yaml": SINGLE_YAML.replace("type: python", "type: onnx"), "predictor.py": ONNX_PREDICTOR,
                 "models/1/a.onnx": b"\0", "models/1/b.onnx": b"\0"}
        bad = "models/1"
    else:
        bad = "models/latest" if case == "non-integer-folder" else "models/-3"
        files = {"cortex.yaml": SINGLE_YAML, "predictor.py": TEXT_MODEL_PREDICTOR,
                 "models/1/model.txt": "one", "models/2/model.txt": "two", f"{bad}/model.txt": "x"}
    project = write_project(tmp_path / "p", files)
    server = Server(project)
    assert server.exit_code_of_start() != 0
    logs = server.logs()
    assert bad in logs, logs
    if case == "onnx-two-files":
        assert "a.onnx" in logs and "b.onnx" in logs, logs


@pytest.mark.parametrize("case", ["onnx-two-files", "non-integer-folder"])
def test_invalid_layout_fails_validate(tmp_path, case):
    from cortex_e2e import run_cli
    if case == "onnx-two-files":
        files = {"cortex.yaml": SINGLE_YAML.replace("type: python", "type: onnx"), "predictor.py": ONNX_PREDICTOR,
                 "models/1/a.onnx": b"\0", "models/1/b.onnx": b"\0"}
        bad = "models/1"
    else:
        files = {"cortex.yaml": SINGLE_YAML, "predictor.py": TEXT_MODEL_PREDICTOR,
                 "models/1/model.txt": "one", "models/latest/model.txt": "x"}
        bad = "models/latest"
    result = run_cli("validate", str(write_project(tmp_path / "p", files)))
    assert result.returncode == 1
    assert bad in result.stderr and "predictor.model_path" in result.stderr, result.stderr


# --------------------------------------------------------------------------- the examples

def test_example_onnx_iris(tmp_path, request):
    project = copy_example("onnx-iris", tmp_path)
    run_build(project)
    assert sorted(os.listdir(project / "model")) == ["model.onnx"]
    s = started(Server(project), request)
    for payload, label in IRIS_SAMPLES:
        r = s.post("/iris-classifier", json=payload)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == label
    assert s.get("/iris-classifier").json()["model_metadata"] == {
        "_cortex_default": {"versions": ["1"], "latest": "1"}}


def test_example_tensorflow_iris(tmp_path, request):
    project = copy_example("tensorflow-iris", tmp_path)
    run_build(project)
    assert (project / "model" / "1" / "saved_model.pb").is_file()
    s = started(Server(project), request)
    for payload, label in IRIS_SAMPLES:
        r = s.post("/iris-classifier", json=payload)
        assert r.status_code == 200, r.text
        assert r.text == label
    assert s.get("/iris-classifier").json()["model_metadata"] == {
        "_cortex_default": {"versions": ["1"], "latest": "1"}}


def test_example_live_reloading(tmp_path, request):
    project = copy_example("live-reloading", tmp_path)
    for version in ("1", "2"):
        run_build(project, version)
    s = started(Server(project), request)

    def answer(query=""):
        r = s.post("/mpg-estimator" + query, json=MPG_PAYLOAD)
        assert r.status_code == 200, r.text
        return r.json()

    latest, v1, v2 = answer(), answer("?version=1"), answer("?version=2")
    assert latest == {"prediction": v2["prediction"], "model": {"version": None}}  # the seed echoes the query
    assert v1["model"] == {"version": "1"} and v2["model"] == {"version": "2"}
    assert v1["prediction"] != v2["prediction"]
    assert 10 < v1["prediction"] < 40 and 10 < v2["prediction"] < 40

    run_build(project, "3")  # while serving (model_poll_interval: 1s)
    added = time.monotonic()
    (v3, took) = wait_for(lambda: s.post("/mpg-estimator?version=3", json=MPG_PAYLOAD).status_code == 200
                          and answer("?version=3"), 10)
    print(f"version 3 of the example served {took:.2f}s after build_model.py 3 returned")
    assert v3["prediction"] not in (v1["prediction"], v2["prediction"])
    wait_for(lambda: answer()["prediction"] == v3["prediction"], 10)
    assert time.monotonic() - added < 10
    assert s.get("/mpg-estimator").json()["model_metadata"]["_cortex_default"]["latest"] == "3"


# --------------------------------------------------------------------------- S3

@pytest.fixture
def s3_server(tmp_path, monkeypatch):
    """A moto S3 server on a free loopback port; the AWS variables point at it (and pass on to serve)."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pathlib.Path(sys.executable).parent / "moto_server"
    if not moto_server.exists():
        pytest.skip("moto_server is not installed in the test environment (moto[server])")
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"moto_server exited: {(tmp_path / 'moto.log').read_text()}")
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                if time.time() > deadline:
                    raise AssertionError("moto_server did not start")
                time.sleep(0.1)
        for name, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.moto_process = proc  # for tests that take S3 away
        yield client
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_s3_model_path_live_reload(s3_server, serve):
    bucket = f"models-{uuid.uuid4().hex[:12]}"  # fresh per run: the local mirror is keyed by the URL
    s3_server.create_bucket(Bucket=bucket)
    s3_server.put_object(Bucket=bucket, Key="texts/1/model.txt", Body=b"s3 one")
    s3_server.put_object(Bucket=bucket, Key="other/1/model.txt", Body=b"not this prefix")
    yaml = SINGLE_YAML.replace("model_path: models", f"model_path: s3://{bucket}/texts") \
        + "    model_poll_interval: 1s\n"
    s = serve({"cortex.yaml": yaml, "predictor.py": TEXT_MODEL_PREDICTOR})
    assert s.post("/texts", json={}).json() == {"answer": "s3 one"}
    assert s.get("/texts").json()["model_metadata"] == {"_cortex_default": {"versions": ["1"], "latest": "1"}}

    s3_server.put_object(Bucket=bucket, Key="texts/2/model.txt", Body=b"s3 two")
    _, took = wait_for(lambda: s.post("/texts", json={}).json() == {"answer": "s3 two"}, 15)
    print(f"S3 version 2 served {took:.2f}s after the upload")
    assert took < 10
    assert s.post("/texts?version=1", json={}).json() == {"answer": "s3 one"}

    s3_server.put_object(Bucket=bucket, Key="texts/2/model.txt", Body=b"s3 two, retrained")
    _, took = wait_for(lambda: s.post("/texts?version=2", json={}).json() == {"answer": "s3 two, retrained"}, 15)
    print(f"changed S3 version 2 served {took:.2f}s after the upload")

    s3_server.delete_object(Bucket=bucket, Key="texts/2/model.txt")
    _, took = wait_for(lambda: s.post("/texts?version=2", json={}).status_code == 404, 15)
    print(f"deleted S3 version 2 gone {took:.2f}s after the delete")
    assert s.post("/texts", json={}).json() == {"answer": "s3 one"}
    assert s.get("/texts").json()["model_metadata"] == {"_cortex_default": {"versions": ["1"], "latest": "1"}}

    # S3 goes away while serving: the versions served now stay, the failed checks are logged
    stop_process(s3_server.moto_process)
    wait_for(lambda: "model check failed" in s.logs(), 15)
    for _ in range(20):
        assert s.post("/texts", json={}).json() == {"answer": "s3 one"}
    assert s.get("/texts").json()["model_metadata"] == {"_cortex_default": {"versions": ["1"], "latest": "1"}}


def test_s3_unreachable_bucket_stops_serve(s3_server, tmp_path):
    project = write_project(tmp_path / "p", {
        "cortex.yaml": SINGLE_YAML.replace("model_path: models", "model_path: s3://no-such-bucket-here/texts"),
        "predictor.py": TEXT_MODEL_PREDICTOR})
    server = Server(project)
    assert server.exit_code_of_start() != 0
    assert "s3://no-such-bucket-here/texts" in server.logs()
    assert "NoSuchBucket" in server.logs() or "does not exist" in server.logs(), server.logs()


def test_s3_caching_downloads_on_demand_within_disk_cache_size(s3_server, serve):
    import hashlib
    bucket = f"cache-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(Bucket=bucket)
    for version in range(1, 5):
        s3_server.put_object(Bucket=bucket, Key=f"texts/{version}/model.txt", Body=f"v{version}".encode())
    location = f"s3://{bucket}/texts"
    yaml = f"""
- name: texts
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    models:
      paths:
        - name: texts
          model_path: {location}
      cache_size: 1
      disk_cache_size: 2
"""
    s = serve({"cortex.yaml": yaml, "predictor.py": TEXT_MODEL_PREDICTOR})
    cache_root = pathlib.Path(os.environ.get("CORTEX_CACHE_DIR", pathlib.Path.home() / ".cache" / "cortex-swift"))
    mirror = cache_root / "models" / hashlib.sha256(location.encode()).hexdigest()[:24]

    def on_disk():
        return sorted(p.name for p in mirror.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if mirror.exists() else []

    # Nothing is downloaded before it is used; the summary lists every version all the same.
    assert on_disk() == []
    assert s.get("/texts").json()["model_metadata"] == {
        "texts": {"versions": ["1", "2", "3", "4"], "latest": "4"}}
    for version, expected_disk in [(1, ["1"]), (2, ["1", "2"]), (3, ["2", "3"]), (1, ["1", "3"]), (4, ["1", "4"])]:
        r = s.post(f"/texts?model=texts&version={version}", json={})
        assert r.json() == {"answer": f"v{version}"}, r.text
        assert on_disk() == expected_disk, (version, on_disk())
    assert "downloading model texts version 4" in s.logs()
    assert "from the disk cache" in s.logs()
