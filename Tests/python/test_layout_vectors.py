"""Model-folder layout rules of the S3 listing (`s3sync.list_versions` / `list_models`) against the vectors
shared with the Swift `ModelLayout` (Tests/vectors/model_layouts.json, docs/CORTEX-COMPATIBILITY.md
"Model layouts"). Pure: the objects a listing would return are built from the case's file list."""
from __future__ import annotations

import json

import pytest

from worker_harness import ROOT
from cortex_worker.s3sync import SyncError, list_models, list_versions, safe_relative

CASES = json.loads((ROOT / "Tests" / "vectors" / "model_layouts.json").read_text(encoding="utf-8"))["cases"]
BUCKET, PREFIX = "vectors", "model/"
WHERE = "s3://vectors/model"


def objects(files):
    """{relative path: obj} as list_objects returns them: a folder marker ("x/") is no object."""
    out = {}
    for path in files:
        rel = safe_relative(path)
        if rel is not None:
            out[rel] = {"key": PREFIX + rel, "size": 1, "etag": '"x"', "last_modified": "", "mtime": 0.0}
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_layout_vector(case):
    objs = objects(case["files"])
    run = (lambda: list_models(BUCKET, PREFIX, objs, case["type"])) if case.get("dir") else \
        (lambda: list_versions(BUCKET, PREFIX, objs, case["type"]))
    if "error" in case:
        with pytest.raises(SyncError) as e:
            run()
        assert str(e.value) == case["error"].replace("{root}", WHERE)
        return
    result = run()
    if case.get("dir"):
        assert [{"name": m["name"], "versions": [v["version"] for v in m["versions"]]} for m in result] \
            == case["models"]
        for m in result:
            for v in m["versions"]:
                assert v["source"] in (f"{WHERE}/{m['name']}", f"{WHERE}/{m['name']}/" + v["source"].rsplit("/", 1)[-1])
    else:
        assert [v["version"] for v in result] == case["versions"]
        for v in result:  # an unversioned model's source is the prefix, a version's its folder
            assert v["source"] == WHERE or v["source"].startswith(WHERE + "/")


def test_the_vectors_cover_every_type_and_both_modes():
    assert {c["type"] for c in CASES} == {"python", "onnx", "tensorflow"}
    assert any(c.get("dir") for c in CASES) and any(not c.get("dir") for c in CASES)
    assert len({c["name"] for c in CASES}) == len(CASES)
