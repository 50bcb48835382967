class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        # application/json bodies arrive already parsed; return them unchanged.
        return payload
