"""The baseline's `onnx_client`: what Cortex v0.23's ONNXClient (`cortex/lib/client/onnx.py`) did on the
request path, written independently for the benchmark (nothing is imported from cortex_worker).

- load: one `onnxruntime.InferenceSession` on the model's `.onnx` file (CPU provider), its input
  metadata (`session.get_inputs()`) kept as the model's signatures;
- `predict(model_input)`: the input is converted to a numpy array of each input's declared dtype
  (ONNX type string -> numpy dtype) and reshaped to the declared shape (symbolic dimensions -> -1, when at
  most one is unknown); a dict is keyed by input name; then `session.run([], inputs)`, i.e. the list of
  every output.

In the baseline's favour, v0.23 also did, on every prediction: a listdir of its model lock directory to
find the highest version, an fcntl-locked read of the model's status file and a read lock on the model
holder. None of that is done here: the session is loaded once at startup and used directly.
"""

import os

import numpy as np
import onnxruntime as rt

# ONNX tensor type strings (NodeArg.type) -> numpy dtypes
NUMPY_DTYPES = {
    "tensor(float16)": "float16",
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def find_model_file(path):
    """A .onnx file, or a folder holding one (optionally in numbered version folders: highest wins)."""
    if os.path.isfile(path):
        return path
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit() and os.path.isdir(os.path.join(path, d))))
    if versions:
        path = os.path.join(path, str(versions[-1]))
    files = [f for f in os.listdir(path) if f.endswith(".onnx")]
    if len(files) != 1:
        raise ValueError(f"expected one .onnx file in {path}, found {files}")
    return os.path.join(path, files[0])


def to_array(value, meta):
    dtype = NUMPY_DTYPES[meta.type]
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in (meta.shape or [])]
    if isinstance(value, np.ndarray):
        array = value if str(value.dtype) == dtype else value.astype(dtype)
    else:
        array = np.array(value, dtype=dtype)
    if shape.count(-1) <= 1:
        array = array.reshape(shape)
    return array


class ONNXClient:
    def __init__(self, model_path):
        self.model_file = find_model_file(model_path)
        self.session = rt.InferenceSession(self.model_file, providers=["CPUExecutionProvider"])
        self.signatures = self.session.get_inputs()
        self.input_signatures = {m.name: {"shape": m.shape, "type": NUMPY_DTYPES.get(m.type, m.type)}
                                 for m in self.signatures}

    def predict(self, model_input, model_name=None, model_version=None):
        if len(self.signatures) == 1:
            meta = self.signatures[0]
            if isinstance(model_input, dict):
                model_input = model_input[meta.name]
            inputs = {meta.name: to_array(model_input, meta)}
        else:
            inputs = {meta.name: to_array(model_input[meta.name], meta) for meta in self.signatures}
        return self.session.run([], inputs)
