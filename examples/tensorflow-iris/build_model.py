"""Trains a small softmax classifier with TensorFlow on the iris data set bundled with scikit-learn and
saves it as a SavedModel in model/1/ (version 1 of a versioned model folder).

    pip install tensorflow-cpu scikit-learn
    python build_model.py            # writes model/1/ next to this file

The SavedModel has one signature, "serving_default", with four named float32 inputs of shape [None]
(sepal_length, sepal_width, petal_length, petal_width) and two outputs: "class_ids" (int64, shape
[None]) and "probabilities" (float32, shape [None, 3]). tensorflow_client.predict(payload) takes the
JSON payload as it is ({"sepal_length": 5.2, ...}) and returns {"class_ids": ["0"], "probabilities":
[...]}: int64 values come back as strings, as TF Serving's JSON did, hence int(prediction["class_ids"][0]).
"""
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_iris

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class IrisClassifier(tf.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        self.w = tf.Variable(tf.zeros([4, 3]), name="w")
        self.b = tf.Variable(tf.zeros([3]), name="b")

    def logits(self, x):
        return tf.matmul((x - self.mean) / self.std, self.w) + self.b

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=name) for name in FEATURES])
    def serve(self, sepal_length, sepal_width, petal_length, petal_width):
        x = tf.stack([sepal_length, sepal_width, petal_length, petal_width], axis=1)
        probabilities = tf.nn.softmax(self.logits(x))
        return {"class_ids": tf.argmax(probabilities, axis=1, output_type=tf.int64), "probabilities": probabilities}


def main(out_dir):
    iris = load_iris()
    x = iris.data.astype(np.float32)
    y = iris.target.astype(np.int64)
    model = IrisClassifier(x.mean(axis=0), x.std(axis=0))
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.1)
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model.logits(x)))
        grads = tape.gradient(loss, [model.w, model.b])
        optimizer.apply_gradients(zip(grads, [model.w, model.b]))
    accuracy = float(np.mean(np.argmax(model.logits(x).numpy(), axis=1) == y))
    print(f"trained on {len(x)} samples, loss {float(loss):.3f}, training accuracy {accuracy:.3f}")

    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    tf.saved_model.save(model, out_dir, signatures={"serving_default": model.serve})
    print(f"wrote {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "model", "1"))
