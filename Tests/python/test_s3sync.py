"""`python -m cortex_worker.s3sync` against a real S3 API: a moto server on a loopback port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from worker_harness import WORKER_SRC

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def _env(endpoint, credentials=True, tmp=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = endpoint
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/aws"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["PYTHONPATH"] = str(WORKER_SRC)
    if credentials:
        env.update(KEYS)
    else:
        env["AWS_REGION"] = "us-east-1"
    return env


def run_sync(endpoint, source, dest, credentials=True, extra=()):
    p = subprocess.run([sys.executable, "-m", "cortex_worker.s3sync", "--source", source, "--dest", str(dest), *extra],
                       env=_env(endpoint, credentials), capture_output=True, text=True, timeout=60)
    return p


def tree(dest):
    out = {}
    for root, _dirs, files in os.walk(dest):
        for f in files:
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, dest)] = fh.read()
    return out


@pytest.fixture
def s3(moto_endpoint):
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    return client


def test_sync_mirrors_new_changed_and_deleted_objects(s3, moto_endpoint, tmp_path):
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="iris/1/model.onnx", Body=b"version one")
    s3.put_object(Bucket="models", Key="iris/1/assets/vocab.txt", Body=b"a\nb\n")
    s3.put_object(Bucket="models", Key="iris/", Body=b"")  # a folder marker
    s3.put_object(Bucket="models", Key="iris2/1/model.onnx", Body=b"another model: not under iris/")
    dest = tmp_path / "cache" / "iris"

    p = run_sync(moto_endpoint, "s3://models/iris", dest)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"downloaded": 2, "deleted": 0, "bytes": 15, "objects": 2}
    assert tree(dest) == {"1/model.onnx": b"version one", "1/assets/vocab.txt": b"a\nb\n"}
    # the file's mtime is the object's LastModified; the manifest lives outside dest
    lm = s3.head_object(Bucket="models", Key="iris/1/model.onnx")["LastModified"].timestamp()
    assert abs(os.path.getmtime(dest / "1" / "model.onnx") - lm) < 1e-3
    assert (tmp_path / "cache" / ".iris.s3sync.json").is_file()
    assert sorted(os.listdir(tmp_path / "cache")) == [".iris.s3sync.json", "iris"]

    # nothing changed: nothing downloaded
    p = run_sync(moto_endpoint, "s3://models/iris/", dest)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"downloaded": 0, "deleted": 0, "bytes": 0, "objects": 2}

    # a new version and a changed object
    s3.put_object(Bucket="models", Key="iris/2/model.onnx", Body=b"version two!")
    s3.put_object(Bucket="models", Key="iris/1/model.onnx", Body=b"version one, retrained")
    p = run_sync(moto_endpoint, "s3://models/iris", dest)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"downloaded": 2, "deleted": 0, "bytes": 12 + 22, "objects": 3}
    assert tree(dest) == {"1/model.onnx": b"version one, retrained", "1/assets/vocab.txt": b"a\nb\n",
                          "2/model.onnx": b"version two!"}

    # a local file that was tampered with (other size) is fetched again
    (dest / "2" / "model.onnx").write_bytes(b"x")
    (dest / "stray.txt").write_bytes(b"not upstream")
    p = run_sync(moto_endpoint, "s3://models/iris", dest)
    assert json.loads(p.stdout) == {"downloaded": 1, "deleted": 1, "bytes": 12, "objects": 3}

    # deleted upstream: deleted here, empty folders too
    s3.delete_object(Bucket="models", Key="iris/1/assets/vocab.txt")
    s3.delete_object(Bucket="models", Key="iris/2/model.onnx")
    p = run_sync(moto_endpoint, "s3://models/iris", dest)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"downloaded": 0, "deleted": 2, "bytes": 0, "objects": 1}
    assert tree(dest) == {"1/model.onnx": b"version one, retrained"}
    assert sorted(os.listdir(dest)) == ["1"] and sorted(os.listdir(dest / "1")) == ["model.onnx"]
    assert not any(n.endswith(".s3sync-tmp") for n in os.listdir(tmp_path / "cache"))


def test_sync_anonymous_private_then_public_whole_bucket(s3, moto_endpoint, tmp_path):
    s3.create_bucket(Bucket="public-models")
    s3.put_object(Bucket="public-models", Key="m/1/saved_model.pb", Body=b"pb")
    # no credentials: unsigned requests, refused by a private bucket
    p = run_sync(moto_endpoint, "s3://public-models/m", tmp_path / "m", credentials=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip() == (
        "s3sync: error: access denied to s3://public-models/m/ anonymously (no AWS credentials are set)")
    s3.put_bucket_acl(Bucket="public-models", ACL="public-read")
    s3.put_object_acl(Bucket="public-models", Key="m/1/saved_model.pb", ACL="public-read")
    p = run_sync(moto_endpoint, "s3://public-models", tmp_path / "all", credentials=False)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["downloaded"] == 1
    assert tree(tmp_path / "all") == {"m/1/saved_model.pb": b"pb"}


def test_sync_errors(s3, moto_endpoint, tmp_path):
    p = run_sync(moto_endpoint, "s3://no-such-bucket-here/x", tmp_path / "d")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip() == "s3sync: error: bucket 'no-such-bucket-here' does not exist"
    p = run_sync(moto_endpoint, "https://bucket/x", tmp_path / "d")
    assert p.returncode == 2 and "invalid S3 URL 'https://bucket/x'" in p.stderr
    p = run_sync(moto_endpoint, "s3:///x", tmp_path / "d")
    assert p.returncode == 2 and "is not a bucket name" in p.stderr
    p = run_sync("http://127.0.0.1:1", "s3://models/x", tmp_path / "d", extra=("--jobs", "1"))
    assert p.returncode == 1 and "cannot reach the S3 endpoint" in p.stderr


def test_url_parsing_and_safe_paths():
    from cortex_worker.s3sync import SyncError, parse_s3_url, safe_relative
    assert parse_s3_url("s3://bkt/models/iris") == ("bkt", "models/iris/")
    assert parse_s3_url("s3://bkt/models/iris/") == ("bkt", "models/iris/")
    assert parse_s3_url("s3://bkt") == ("bkt", "")
    assert parse_s3_url("s3://bkt/") == ("bkt", "")
    with pytest.raises(SyncError):
        parse_s3_url("b/models")
    assert safe_relative("1/model.onnx") == "1/model.onnx"
    for bad in ("", "1/", "../x", "1/../../x", "a//b", "./a"):
        assert safe_relative(bad) is None
