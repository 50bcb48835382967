import os
import pickle


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        # model_path is one version's folder (models/1, models/2, …); build_model.py pickled a
        # scikit-learn regressor into it
        with open(os.path.join(model_path, "model.pkl"), "rb") as f:
            return pickle.load(f)

    def predict(self, payload, query_params):
        model_version = query_params.get("version")

        model = self.client.get_model(model_version=model_version)
        model_input = [
            payload["cylinders"],
            payload["displacement"],
            payload["horsepower"],
            payload["weight"],
            payload["acceleration"],
        ]
        result = model.predict([model_input]).item()

        return {"prediction": result, "model": {"version": model_version}}
