class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        # multipart/form-data bodies arrive as a starlette FormData: file fields are
        # UploadFile objects (filename, content_type, file), plain fields are strings.
        text_field = payload["text"]
        text = text_field.file.read()
        data_field = payload["data"]
        data = data_field.file.read()
        return {
            "text": {
                "filename": text_field.filename,
                "content_type": text_field.content_type,
                "size": len(text),
                "content": text.decode("utf-8"),
            },
            "data": {
                "filename": data_field.filename,
                "content_type": data_field.content_type,
                "size": len(data),
            },
            "fields": sorted(payload.keys()),
        }
