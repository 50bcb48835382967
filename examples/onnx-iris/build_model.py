"""Trains a scikit-learn classifier on the iris data set bundled with scikit-learn and exports it to
ONNX with skl2onnx as model/model.onnx (an unversioned model folder: served as version 1).

    pip install scikit-learn skl2onnx onnx
    python build_model.py            # writes model/model.onnx next to this file

The exported graph has one input, "input" (float, shape [None, 4]: sepal_length, sepal_width,
petal_length, petal_width) and two outputs, in this order: "label" (int64, shape [None], the class
id) and "probabilities" (float, shape [None, 3]). onnx_client.predict returns the list of
outputs, so prediction[0][0] is the class id of the first row, which indexes `labels`.
"""
import os
import sys

from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(out_dir):
    iris = load_iris()
    model = LogisticRegression(max_iter=1000)
    model.fit(iris.data, iris.target)
    print(f"trained on {len(iris.data)} samples, training accuracy {model.score(iris.data, iris.target):.3f}")

    onnx_model = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        # plain tensors instead of a list of {class: probability} maps (ZipMap)
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    outputs = [o.name for o in onnx_model.graph.output]
    assert outputs[0] == "label", outputs  # prediction[0] must be the class ids

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    with open(path, "wb") as f:
        f.write(onnx_model.SerializeToString())
    print(f"wrote {path} (outputs: {', '.join(outputs)})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "model"))
