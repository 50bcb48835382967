import io

from PIL import Image


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload, headers):
        # Any Content-Type other than JSON or a form (e.g. application/octet-stream,
        # image/png) hands the raw request body to predict() as bytes.
        image = Image.open(io.BytesIO(payload))
        return {
            "format": image.format,
            "size": list(image.size),  # [width, height]
            "mode": image.mode,
            "bytes": len(payload),
            "content_type": headers.get("content-type"),
        }
