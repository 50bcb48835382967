from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class PythonPredictor:
    def __init__(self, config):
        # The iris data set ships inside scikit-learn: nothing is downloaded.
        iris = load_iris()
        self.labels = [str(name) for name in iris.target_names]
        self.model = LogisticRegression(max_iter=int(config.get("max_iter", 1000)))
        self.model.fit(iris.data, iris.target)
        print(f"trained on {len(iris.data)} samples, training accuracy "
              f"{self.model.score(iris.data, iris.target):.3f}")

    def predict(self, payload):
        if isinstance(payload, list):
            # predictor.server_side_batching: a list of payloads, one model call for all of them,
            # one answer per payload (README, "Server-side batching")
            rows = [[float(p[name]) for name in FEATURES] for p in payload]
            return [self.labels[int(i)] for i in self.model.predict(rows)]
        row = [float(payload[name]) for name in FEATURES]
        label_id = int(self.model.predict([row])[0])
        return self.labels[label_id]
