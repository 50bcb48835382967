"""The TensorFlow client (docs/CORTEX-COMPATIBILITY.md §6): SavedModels built here with a tiny tf.Module, served
by a real worker process that loads them with tensorflow (skipped when tensorflow is not installed)."""
from __future__ import annotations

import pytest

from worker_harness import start_with_models

tf = pytest.importorskip("tensorflow")

TF_IRIS = """
labels = ["setosa", "versicolor", "virginica"]

class TensorFlowPredictor:
    def __init__(self, tensorflow_client, config):
        self.client = tensorflow_client

    def predict(self, payload):
        prediction = self.client.predict(payload)
        predicted_class_id = int(prediction["class_ids"][0])
        return labels[predicted_class_id]
"""

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class Iris(tf.Module):
    """class = how many thresholds petal_length reaches (2.5 and 5.0), like a tiny iris classifier."""

    def __init__(self):
        super().__init__()
        self.thresholds = tf.Variable([2.5, 5.0], dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=n) for n in FEATURES])
    def serve(self, sepal_length, sepal_width, petal_length, petal_width):
        ids = tf.reduce_sum(tf.cast(petal_length[:, None] >= self.thresholds[None, :], tf.int64), axis=1)
        probs = tf.one_hot(ids, 3, dtype=tf.float32) * 0.7 + 0.1
        return {"class_ids": ids[:, None], "probabilities": probs,
                "classes": tf.strings.as_string(ids)[:, None], "count": tf.shape(ids, out_type=tf.int32)}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int64, name="x")])
    def double(self, x):
        return {"y": x * 2, "ok": tf.reduce_all(x >= 0)[None]}


def save(module, path, signatures):
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf")
    m = Iris()
    iris = save(m, root / "iris" / "1", {"serving_default": m.serve})
    two = save(m, root / "two" / "1", {"serving_default": m.serve, "other": m.double})
    pred = save(m, root / "pred" / "1", {"serving_default": m.double, "predict": m.serve})
    return {"iris": iris, "two": two, "pred": pred}


def test_tensorflow_iris_seed_predictor_int64_as_strings(front, saved):
    w = start_with_models(front, TF_IRIS, {"_cortex_default": {"1": saved["iris"]}}, predictor_type="tensorflow")
    for sample, label in [({"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}, "setosa"),
                          ({"sepal_length": 6.4, "sepal_width": 3.2, "petal_length": 4.5, "petal_width": 1.5}, "versicolor"),
                          ({"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}, "virginica")]:
        r = w.json(sample)
        assert (r.status, r.body) == (200, label.encode()), (r, w.stderr[-3000:])
    assert "loaded model version 1 in" in w.stderr
    assert w.shutdown() == 0


def test_tensorflow_outputs_and_signature_keys(front, saved):
    w = start_with_models(front, """
        class TensorFlowPredictor:
            def __init__(self, tensorflow_client, config):
                self.client = tensorflow_client

            def predict(self, payload, query_params):
                return self.client.predict(payload, query_params["m"], query_params.get("v", "latest"))
    """, {"iris": {"1": saved["iris"]}, "two": {"1": saved["two"]}, "other": {"1": saved["two"]},
          "pred": {"1": saved["pred"]}, "fromdir": {"1": saved["two"]}},
        mode="multi", predictor_type="tensorflow", default_signature_key="other",
        signature_keys={"iris": None, "two": None, "other": "other", "pred": None})
    batch = {"sepal_length": [5.0, 6.0], "sepal_width": [3.0, 3.0], "petal_length": [1.0, 5.5],
             "petal_width": [0.2, 2.0]}
    r = w.json(batch, query="m=iris")
    assert r.status == 200, (r, w.stderr[-3000:])
    # TF Serving's JSON: flat lists, int64 as strings, float32 in shortest form, strings decoded
    assert r.json() == {"class_ids": ["0", "2"], "probabilities": [0.8, 0.1, 0.1, 0.1, 0.1, 0.8],
                        "classes": ["0", "2"], "count": [2]}
    # a configured signature key; int64 inputs from JSON ints
    r = w.json({"x": [[1, 2], [3, 4]]}, query="m=other")
    assert r.json() == {"y": ["2", "4", "6", "8"], "ok": [True]}
    # a model found in models.dir (not in signature_keys) gets default_signature_key
    r = w.json({"x": [[-1, 0]]}, query="m=fromdir")
    assert r.json() == {"y": ["-2", "0"], "ok": [False]}
    # several signatures, none configured, one named "predict": that one
    r = w.json(batch, query="m=pred")
    assert r.json()["class_ids"] == ["0", "2"]
    # several signatures, none configured, no "predict": the version fails to load
    r = w.json({"x": [[1, 2]]}, query="m=two")
    assert r.status == 500
    err = r.json()["error"]
    assert err.startswith("failed loading model two version 1:"), err
    assert "'serving_default', 'other'" in err or "'other', 'serving_default'" in err, err
    assert "several signatures" in err
    # missing input, not a dict
    r = w.json({"sepal_length": [1.0], "petal_width": [1.0]}, query="m=iris")
    assert r.status == 500 and "missing keys " in r.body.decode()
    assert "'sepal_width'" in r.body.decode() and "'petal_length'" in r.body.decode()
    assert "'petal_width'" not in r.body.decode()
    r = w.json({"sepal_length": 1.0, "sepal_width": 1.0, "petal_length": 1.0}, query="m=iris")
    assert r.status == 500 and "missing key 'petal_width' for model 'iris'" in r.body.decode()
    r = w.json([1, 2], query="m=iris")
    assert r.status == 500 and "model_input must be a dictionary" in r.body.decode()
    r = w.json(batch, query="m=iris&v=2")
    assert r.status == 404 and r.json() == {"error": "model 'iris' has no version '2'; available versions: 1"}
    assert w.shutdown() == 0
