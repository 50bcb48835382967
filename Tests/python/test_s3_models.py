"""S3 model versions fetched on demand (caching: `cache_size` + `disk_cache_size`), against a real S3 API
(a moto server on a loopback port): `s3sync --list` and the worker's download / disk-cache LRU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from worker_harness import P
from test_s3sync import KEYS, _env, moto_endpoint, s3  # noqa: F401 (fixtures)

pytest.importorskip("boto3")
pytest.importorskip("moto")


def run_list(endpoint, source, fmt="python", directory=False, extra=()):
    args = [sys.executable, "-m", "cortex_worker.s3sync", "--source", source, "--list", "--format", fmt]
    if directory:
        args.append("--dir")
    return subprocess.run(args + list(extra), env=_env(endpoint), capture_output=True, text=True, timeout=60)


def listed(endpoint, source, fmt="python", directory=False):
    p = run_list(endpoint, source, fmt, directory)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(lines[0])


def list_error(endpoint, source, fmt="python", directory=False):
    p = run_list(endpoint, source, fmt, directory)
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    return p.stderr.strip()


def stamp(s3, bucket, prefix):
    """What the listing's stamp must be: newest LastModified and total size below prefix/."""
    newest, total = 0.0, 0
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", []):
        newest = max(newest, obj["LastModified"].timestamp())
        total += obj["Size"]
    return f"{newest:.6f}-{total}"


def put(s3, bucket, files):
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


# --------------------------------------------------------------------------- listing

def test_list_versioned_skips_empty_versions_and_downloads_nothing(s3, moto_endpoint, tmp_path):
    s3.create_bucket(Bucket="list-v")
    put(s3, "list-v", {"m/1/value.txt": b"one", "m/2/value.txt": b"two", "m/2/sub/extra.bin": b"xyz",
                       "m/10/value.txt": b"ten", "m/3/": b"",  # a folder marker only: an empty version
                       "m/4/.keep": b"",  # only a hidden object: empty too
                       "m/": b"", "m10/1/value.txt": b"another model: not under m/"})
    before = set(os.listdir(tmp_path))
    doc = listed(moto_endpoint, "s3://list-v/m")
    assert doc == {"versions": [
        {"version": "1", "stamp": stamp(s3, "list-v", "m/1"), "source": "s3://list-v/m/1"},
        {"version": "2", "stamp": stamp(s3, "list-v", "m/2"), "source": "s3://list-v/m/2"},
        {"version": "10", "stamp": stamp(s3, "list-v", "m/10"), "source": "s3://list-v/m/10"}]}
    assert doc["versions"][1]["stamp"].endswith("-6")  # value.txt + sub/extra.bin
    assert set(os.listdir(tmp_path)) == before
    # the same with a trailing slash; "python" accepts anything non-empty
    assert listed(moto_endpoint, "s3://list-v/m/") == doc


def test_list_unversioned_model_is_version_1(s3, moto_endpoint):
    s3.create_bucket(Bucket="list-u")
    put(s3, "list-u", {"iris/model.onnx": b"onnx bytes", "tf/saved_model.pb": b"pb",
                       "tf/variables/variables.index": b"i", "tf/variables/variables.data-00000-of-00001": b"dd"})
    assert listed(moto_endpoint, "s3://list-u/iris", "onnx") == {"versions": [
        {"version": "1", "stamp": stamp(s3, "list-u", "iris"), "source": "s3://list-u/iris"}]}
    assert listed(moto_endpoint, "s3://list-u/tf/", "tensorflow") == {"versions": [
        {"version": "1", "stamp": stamp(s3, "list-u", "tf"), "source": "s3://list-u/tf"}]}


def test_list_dir_mode(s3, moto_endpoint):
    s3.create_bucket(Bucket="list-d")
    put(s3, "list-d", {"all/iris/1/model.onnx": b"a", "all/iris/2/model.onnx": b"bb",
                       "all/flowers/model.onnx": b"ccc",  # unversioned
                       "all/README.md": b"a file beside the models: ignored", ".hidden/x/model.onnx": b"",
                       "all/.git/config": b"hidden: ignored"})
    assert listed(moto_endpoint, "s3://list-d/all", "onnx", directory=True) == {"models": [
        {"name": "flowers", "versions": [
            {"version": "1", "stamp": stamp(s3, "list-d", "all/flowers"), "source": "s3://list-d/all/flowers"}]},
        {"name": "iris", "versions": [
            {"version": "1", "stamp": stamp(s3, "list-d", "all/iris/1"), "source": "s3://list-d/all/iris/1"},
            {"version": "2", "stamp": stamp(s3, "list-d", "all/iris/2"), "source": "s3://list-d/all/iris/2"}]}]}
    # a model of the dir with a bad layout fails the whole listing, naming it
    put(s3, "list-d", {"all/iris/3/model.onnx": b"x", "all/iris/3/notes.txt": b"y"})
    assert list_error(moto_endpoint, "s3://list-d/all", "onnx", directory=True) == (
        "s3sync: error: s3://list-d/all/iris/3: an ONNX model version must hold exactly one .onnx file and "
        "nothing else, found model.onnx, notes.txt")


def test_list_layout_errors(s3, moto_endpoint):
    s3.create_bucket(Bucket="list-e")
    put(s3, "list-e", {
        "stray/1/value.txt": b"1", "stray/notes.txt": b"not a version",
        "strayd/1/value.txt": b"1", "strayd/latest/value.txt": b"not a version",
        "two/1/a.onnx": b"a", "two/1/b.onnx": b"b",
        "extra/5/model.onnx": b"a", "extra/5/labels.txt": b"b",
        "none/1/model.txt": b"a",
        "tf/1/saved_model.pb": b"pb", "tf/1/variables/variables.index": b"i",
        "hidden/.only": b"hidden objects only",
        "dup/1/value.txt": b"1", "dup/01/value.txt": b"1",
    })
    E = "s3sync: error: "
    assert list_error(moto_endpoint, "s3://list-e/stray") == (
        E + "s3://list-e/stray/notes.txt: a versioned model folder may only hold integer-named version folders")
    assert list_error(moto_endpoint, "s3://list-e/strayd") == (
        E + "s3://list-e/strayd/latest: a versioned model folder may only hold integer-named version folders")
    assert list_error(moto_endpoint, "s3://list-e/two", "onnx") == (
        E + "s3://list-e/two/1: an ONNX model version must hold exactly one .onnx file and nothing else, "
        "found a.onnx, b.onnx")
    assert list_error(moto_endpoint, "s3://list-e/extra", "onnx") == (
        E + "s3://list-e/extra/5: an ONNX model version must hold exactly one .onnx file and nothing else, "
        "found labels.txt, model.onnx")
    assert list_error(moto_endpoint, "s3://list-e/none", "onnx") == (
        E + "s3://list-e/none/1: an ONNX model version must hold exactly one .onnx file and nothing else, "
        "found model.txt")
    assert list_error(moto_endpoint, "s3://list-e/tf", "tensorflow") == (
        E + "s3://list-e/tf/1: a TensorFlow model version must hold saved_model.pb, variables/variables.index "
        "and variables/variables.data-00000-of-*")
    assert list_error(moto_endpoint, "s3://list-e/hidden") == E + "s3://list-e/hidden: the model folder is empty"
    assert list_error(moto_endpoint, "s3://list-e/dup") == (
        E + "s3://list-e/dup/1: version 1 is also s3://list-e/dup/01")
    assert list_error(moto_endpoint, "s3://list-e/nothing-here") == (
        E + "s3://list-e/nothing-here: no model found (there is no object under this prefix)")
    assert list_error(moto_endpoint, "s3://list-e-missing/m") == E + "bucket 'list-e-missing' does not exist"
    # the command line
    p = run_list(moto_endpoint, "s3://list-e/stray", extra=("--dest", "/tmp/x"))
    assert p.returncode == 2 and "--list downloads nothing" in p.stderr
    p = subprocess.run([sys.executable, "-m", "cortex_worker.s3sync", "--source", "s3://list-e/m", "--list"],
                       env=_env(moto_endpoint), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--list needs --format" in p.stderr
    p = subprocess.run([sys.executable, "-m", "cortex_worker.s3sync", "--source", "s3://list-e/m"],
                       env=_env(moto_endpoint), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--dest" in p.stderr


# --------------------------------------------------------------------------- the worker

PY = """
import os

class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "value.txt")) as f:
            return f.read().strip()

    def predict(self, query_params):
        value = self.client.get_model(query_params.get("name"), query_params.get("v", "latest"))
        loaded = self.client._registry.loaded_versions()
        return {"value": value, "loaded": {k: v for k, v in loaded.items()}}
"""


@pytest.fixture(autouse=True)
def _no_host_aws_settings(monkeypatch):
    """The worker inherits this process's environment (worker_harness.Front): drop the host's AWS_*."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)


def worker_env(endpoint):
    env = dict(KEYS)
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint,
                "AWS_CONFIG_FILE": "/nonexistent/aws", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws",
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def frame_from_listing(doc, cache, name="_cortex_default"):
    """What the front sends with caching on: path = <cache>/<version>, stamp and source from the listing."""
    versions = [{"version": v["version"], "path": str(cache / v["version"]), "stamp": v["stamp"],
                 "source": v["source"]} for v in doc["versions"]]
    return P.encode_models_meta([{"name": name, "versions": versions}])


def start_caching(front, endpoint, meta, cache_size, disk_cache_size):
    models = {"mode": "single", "cache_size": cache_size, "disk_cache_size": disk_cache_size,
              "default_signature_key": None, "signature_keys": {"_cortex_default": None}}
    w = front(PY, wait=False, spec={"models": models}, env=worker_env(endpoint))
    w.send(P.MODELS, 0, meta)
    kind, _rid, m, _ = w.recv(timeout=60)
    assert kind == P.READY, (kind, m, w.stderr)
    w.conn.settimeout(30)
    return w


def ask(w, version):
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query=f"v={version}")
    assert r.status == 200, (r, w.stderr)
    doc = r.json()
    return doc["value"], doc["loaded"].get("_cortex_default", [])


def on_disk(cache):
    return sorted((n for n in os.listdir(cache) if not n.startswith(".")), key=int) if cache.exists() else []


def test_caching_downloads_on_demand_keeps_disk_cache_lru(s3, moto_endpoint, tmp_path, front):
    s3.create_bucket(Bucket="cache-lru")
    put(s3, "cache-lru", {f"m/{i}/value.txt": f"v{i}".encode() for i in range(1, 5)})
    cache = tmp_path / "cache" / "m"
    doc = listed(moto_endpoint, "s3://cache-lru/m")
    w = start_caching(front, moto_endpoint, frame_from_listing(doc, cache), cache_size=1, disk_cache_size=2)
    assert on_disk(cache) == [] and "downloading" not in w.stderr  # nothing fetched before it is asked for

    def downloads(v):
        return w.stderr.count(f"downloading model version {v} (")

    steps = [  # (version asked, versions on disk after it, downloads of it so far)
        ("1", ["1"], 1),
        ("2", ["1", "2"], 1),
        ("3", ["2", "3"], 1),  # 1 is the least recently used: deleted
        ("1", ["1", "3"], 2),  # 2 goes (3 was used after it), 1 comes back
        ("4", ["1", "4"], 1),
        ("2", ["2", "4"], 2),
        ("4", ["2", "4"], 1),  # on disk: loaded again without a download
    ]
    for version, disk, n in steps:
        value, loaded = ask(w, version)
        assert value == f"v{version}"
        assert loaded == [version], (version, loaded)  # cache_size 1
        assert on_disk(cache) == disk, (version, on_disk(cache), w.stderr)
        assert downloads(version) == n, (version, w.stderr)
    err = w.stderr
    assert "downloading model version 1 (2 B) from s3://cache-lru/m/1 …" in err
    assert "downloaded model version 1 in " in err
    assert err.count("evicted model version 1 from the disk cache (disk_cache_size 2)") == 2  # at 3 and at 2
    assert err.count("evicted model version 2 from the disk cache (disk_cache_size 2)") == 1
    assert err.count("evicted model version 3 from the disk cache (disk_cache_size 2)") == 1
    assert "evicted model version 4 from the disk cache" not in err
    assert err.count("\nloaded model version 4 in") == 2
    # the stamps are recorded beside the versions; no temporary folder is left behind
    hidden = sorted(n for n in os.listdir(cache) if n.startswith("."))
    assert [n for n in hidden if n.endswith(".json")] == [".2.cortex-model.json", ".4.cortex-model.json"]
    assert not [n for n in hidden if not n.endswith((".json", ".lock"))], hidden
    assert json.loads((cache / ".2.cortex-model.json").read_text()) == {
        "source": "s3://cache-lru/m/2", "stamp": doc["versions"][1]["stamp"]}

    # version 2 changes upstream (on disk, not in memory): the next use downloads it again
    put(s3, "cache-lru", {"m/2/value.txt": b"v2, retrained"})
    doc2 = listed(moto_endpoint, "s3://cache-lru/m")
    assert doc2["versions"][1]["stamp"] != doc["versions"][1]["stamp"]
    w.send(P.MODELS, 0, frame_from_listing(doc2, cache))
    time.sleep(0.3)
    assert downloads("2") == 2  # caching: nothing happens until it is asked for
    assert ask(w, "2") == ("v2, retrained", ["2"])
    assert downloads("2") == 3 and on_disk(cache) == ["2", "4"]
    assert (cache / "2" / "value.txt").read_text() == "v2, retrained"
    assert ask(w, "2") == ("v2, retrained", ["2"]) and downloads("2") == 3

    # version 2 changes again while it is loaded: fetched and reloaded in the background
    put(s3, "cache-lru", {"m/2/value.txt": b"v2, third time"})
    doc3 = listed(moto_endpoint, "s3://cache-lru/m")
    w.send(P.MODELS, 0, frame_from_listing(doc3, cache))
    deadline = time.monotonic() + 20
    while True:
        value, loaded = ask(w, "2")
        if value == "v2, third time":
            break
        assert value == "v2, retrained" and time.monotonic() < deadline, w.stderr
        time.sleep(0.05)
    assert downloads("2") == 4 and on_disk(cache) == ["2", "4"]

    # a version that vanished upstream is deleted from the disk cache
    gone = dict(doc3, versions=[v for v in doc3["versions"] if v["version"] != "4"])
    w.send(P.MODELS, 0, frame_from_listing(gone, cache))
    deadline = time.monotonic() + 10
    while on_disk(cache) != ["2"]:
        assert time.monotonic() < deadline, (on_disk(cache), w.stderr)
        time.sleep(0.05)
    assert "deleted model version 4 from the disk cache (removed)" in w.stderr
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query="v=4")
    assert r.status == 404
    assert w.shutdown() == 0


def test_caching_adopts_versions_left_on_disk_and_reports_download_failures(s3, moto_endpoint, tmp_path, front):
    s3.create_bucket(Bucket="cache-adopt")
    put(s3, "cache-adopt", {f"m/{i}/value.txt": f"v{i}".encode() for i in range(1, 4)})
    put(s3, "cache-adopt", {"m/3/sub/deep/extra.bin": b"\0" * 3000})
    cache = tmp_path / "cache"
    doc = listed(moto_endpoint, "s3://cache-adopt/m")
    # a previous worker left version 1 (its stamp recorded) and version 2 (stale: no stamp) on disk
    for v in ("1", "2"):
        (cache / v).mkdir(parents=True)
        (cache / v / "value.txt").write_text(f"v{v}, on disk")
    (cache / ".1.cortex-model.json").write_text(json.dumps(
        {"source": "s3://cache-adopt/m/1", "stamp": doc["versions"][0]["stamp"]}))
    w = start_caching(front, moto_endpoint, frame_from_listing(doc, cache), cache_size=1, disk_cache_size=2)
    assert ask(w, "1") == ("v1, on disk", ["1"])  # recorded at this stamp: used as it is
    assert "downloading" not in w.stderr
    assert ask(w, "2") == ("v2", ["2"])  # no recorded stamp: downloaded again
    assert on_disk(cache) == ["1", "2"]
    assert ask(w, "3") == ("v3", ["3"])
    assert on_disk(cache) == ["2", "3"]
    assert (cache / "3" / "sub" / "deep" / "extra.bin").read_bytes() == b"\0" * 3000
    assert "downloading model version 3 (2.9 KiB) from s3://cache-adopt/m/3 …" in w.stderr
    assert "evicted model version 1 from the disk cache" in w.stderr

    # a version whose objects vanished before the front noticed: a 500 naming the source, and the
    # next request tries again
    s3.delete_object(Bucket="cache-adopt", Key="m/1/value.txt")
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query="v=1")
    assert r.status == 500, r
    assert "failed downloading model version 1: s3://cache-adopt/m/1: there is no object under this prefix" \
        in w.stderr
    assert "s3://cache-adopt/m/1" in r.json()["error"]
    put(s3, "cache-adopt", {"m/1/value.txt": b"v1 again"})
    assert ask(w, "1") == ("v1 again", ["1"])
    assert on_disk(cache) == ["1", "3"]
    assert w.shutdown() == 0


def test_no_caching_with_s3_sources_downloads_every_version_in_the_background(s3, moto_endpoint, tmp_path, front):
    s3.create_bucket(Bucket="eager")
    put(s3, "eager", {"iris/1/value.txt": b"one", "iris/2/value.txt": b"two"})
    cache = tmp_path / "cache" / "iris"
    doc = listed(moto_endpoint, "s3://eager/iris")
    models = {"mode": "multi", "cache_size": None, "disk_cache_size": None,
              "default_signature_key": None, "signature_keys": {"iris": None}}
    w = front(PY, wait=False, spec={"models": models}, env=worker_env(moto_endpoint))
    w.send(P.MODELS, 0, frame_from_listing(doc, cache, name="iris"))
    assert w.recv(timeout=60)[0] == P.READY
    w.conn.settimeout(30)
    deadline = time.monotonic() + 20
    while on_disk(cache) != ["1", "2"] or "loaded model iris version 1" not in w.stderr:
        assert time.monotonic() < deadline, w.stderr
        time.sleep(0.05)
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query="name=iris")
    assert r.status == 200 and r.json()["value"] == "two"
    r = w.call(b"", kind=P.PAYLOAD_BYTES, query="name=iris&v=1")
    assert r.status == 200 and r.json() == {"value": "one", "loaded": {"iris": ["1", "2"]}}
    assert w.stderr.count("downloading model iris version") == 2
    assert w.shutdown() == 0


def test_models_frame_source_and_spec_disk_cache_size():
    from cortex_worker.models import ModelsSpec, parse_models_frame
    meta = P.encode_models_meta([{"name": "m", "versions": [
        {"version": "1", "path": "/c/m/1", "stamp": "1-1", "source": "s3://b/m/1"},
        {"version": "2", "path": "/local/m/2", "stamp": "2-2"}]}])
    assert parse_models_frame(meta) == {"m": {"1": ("/c/m/1", "1-1", "s3://b/m/1"), "2": ("/local/m/2", "2-2")}}
    with pytest.raises(ValueError):
        parse_models_frame(P.encode_models_meta([{"name": "m", "versions": [
            {"version": "1", "path": "/c/m/1", "stamp": "1-1", "source": "/not/s3"}]}]))
    assert ModelsSpec({"mode": "single", "cache_size": 1, "disk_cache_size": 2}).disk_cache_size == 2
    assert ModelsSpec({"mode": "single"}).disk_cache_size is None
    with pytest.raises(ValueError):
        ModelsSpec({"mode": "single", "cache_size": 1, "disk_cache_size": 0})
