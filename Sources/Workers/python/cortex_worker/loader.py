"""Loading and validating the user's predictor (docs/CORTEX-COMPATIBILITY.md §4, "Loading").

The predictor file is imported by path as module `cortex_predictor`; the class is the module member
named after the predictor type. `__init__`, `predict` and `post_predict` are checked by parameter name;
only declared arguments are passed, by keyword.
"""
from __future__ import annotations

import copy
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field

CLASS_NAMES = {
    "python": "PythonPredictor",
    "tensorflow": "TensorFlowPredictor",
    "onnx": "ONNXPredictor",
}

# (advertised in error messages, also accepted): batch-only arguments are accepted but not advertised.
INIT_ARGS = {
    "python": (("config", "python_client", "metrics_client"), ("job_spec",)),
    "tensorflow": (("tensorflow_client", "config", "metrics_client"), ("job_spec",)),
    "onnx": (("onnx_client", "config", "metrics_client"), ("job_spec",)),
}
PREDICT_ARGS = (("payload", "query_params", "headers"), ("batch_id",))
POST_PREDICT_ARGS = (("response", "payload", "query_params", "headers"), ())
LOAD_MODEL_ARGS = (("model_path",), ())
CLIENT_ARG = {"python": "python_client", "tensorflow": "tensorflow_client", "onnx": "onnx_client"}

MODULE_NAME = "cortex_predictor"
MAX_SUMMARY = 2000


class PredictorError(Exception):
    """The predictor does not follow the contract; the message is shown as is."""


@dataclass
class Spec:
    api: str = ""
    predictor_type: str = "python"
    predictor_path: str = "predictor.py"
    config: dict = field(default_factory=dict)
    threads_per_process: int = 1
    project_dir: str = "."
    python_path: str = ""
    front_host: str = ""
    front_port: int = 0
    models: object = None  # models.ModelsSpec when the API has models (docs/PROTOCOL.md)
    # server_side_batching: {"max_batch_size": int, "batch_interval": seconds or None (adaptive)}
    batching: object = None

    @classmethod
    def from_json_obj(cls, obj) -> "Spec":
        if not isinstance(obj, dict):
            raise PredictorError("CORTEX_WORKER_SPEC must be a JSON object")
        known = {k: obj[k] for k in cls.__dataclass_fields__ if k in obj and obj[k] is not None}
        spec = cls(**known)
        if spec.predictor_type not in CLASS_NAMES:
            raise PredictorError(
                f"unsupported predictor_type {spec.predictor_type!r}; expected one of: python, tensorflow, onnx")
        if not isinstance(spec.config, dict):
            raise PredictorError("spec 'config' must be a JSON object")
        try:
            spec.threads_per_process = int(spec.threads_per_process)
        except (TypeError, ValueError):
            raise PredictorError("spec 'threads_per_process' must be an integer") from None
        if spec.threads_per_process < 1:
            raise PredictorError("spec 'threads_per_process' must be at least 1")
        spec.project_dir = os.path.abspath(spec.project_dir or ".")
        if spec.python_path:
            spec.python_path = os.path.abspath(os.path.join(spec.project_dir, spec.python_path))
        else:
            spec.python_path = spec.project_dir
        try:
            spec.front_port = int(spec.front_port or 0)
        except (TypeError, ValueError):
            raise PredictorError("spec 'front_port' must be an integer") from None
        if spec.batching is not None:
            b = spec.batching
            size = b.get("max_batch_size") if isinstance(b, dict) else None
            interval = b.get("batch_interval") if isinstance(b, dict) else None
            if isinstance(size, bool) or not isinstance(size, int) or size < 1 or (
                    interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))
                                              or interval < 0)):
                raise PredictorError("spec 'batching' must be {\"max_batch_size\": int ≥ 1, "
                                     "\"batch_interval\": seconds or null}")
            spec.batching = {"max_batch_size": size, "batch_interval": None if interval is None else float(interval)}
        if spec.models is not None:
            from .models import ModelsSpec
            try:
                spec.models = ModelsSpec(spec.models)
            except ValueError as e:
                raise PredictorError(str(e)) from None
        return spec

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.predictor_type]


# --------------------------------------------------------------------------- error summaries

class UserCode:
    """Tells user frames (files under the project / python_path) from library ones."""

    def __init__(self, *roots: str) -> None:
        self.roots = []
        for r in roots:
            if r:
                r = os.path.realpath(r)
                if r not in self.roots:
                    self.roots.append(r)
        self.base = self.roots[0] if self.roots else os.getcwd()
        self._cache: dict = {}

    def contains(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            hit = False
            if filename and not filename.startswith("<"):
                real = os.path.realpath(filename)
                if "site-packages" not in real and "dist-packages" not in real:
                    hit = any(real == r or real.startswith(r + os.sep) for r in self.roots)
            self._cache[filename] = hit
        return hit

    def display(self, filename: str) -> str:
        try:
            rel = os.path.relpath(os.path.realpath(filename), self.base)
        except ValueError:
            return filename
        return filename if rel.startswith("..") else rel


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_SUMMARY:
        text = text[:MAX_SUMMARY - 3] + "..."
    return text


def exception_name(exc: BaseException) -> str:
    t = type(exc)
    mod = getattr(t, "__module__", None)
    if mod in (None, "builtins", "__main__", MODULE_NAME):
        return t.__qualname__
    return f"{mod}.{t.__qualname__}"


def summarize(exc: BaseException, user: UserCode | None = None) -> str:
    """One line: exception type, message, and where in the user's code it came from."""
    name = exception_name(exc)
    if isinstance(exc, PredictorError):
        return _one_line(str(exc))
    loc = None
    if isinstance(exc, SyntaxError):
        msg = exc.msg or ""
        if exc.filename and exc.lineno:
            loc = (exc.filename, exc.lineno)
    else:
        try:
            msg = str(exc)
        except Exception:  # a __str__ that raises
            msg = f"<unprintable {type(exc).__name__}>"
        if user is not None:
            for frame, lineno in traceback.walk_tb(exc.__traceback__):
                if user.contains(frame.f_code.co_filename):
                    loc = (frame.f_code.co_filename, lineno)
    text = f"{name}: {msg}" if msg else name
    if loc is not None:
        where = user.display(loc[0]) if user is not None else loc[0]
        text += f" ({where}, line {loc[1]})"
    return _one_line(text)


def format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# --------------------------------------------------------------------------- introspection

def _params(cls, name: str) -> list:
    """Names of the parameters a method takes besides self (*args/**kwargs ignored)."""
    static = inspect.getattr_static(cls, name)
    if isinstance(static, staticmethod):
        func, drop_self = static.__func__, False
    elif inspect.isfunction(static):
        func, drop_self = static, True
    else:  # classmethod, callable object, partial...: what attribute access gives is already bound
        func, drop_self = getattr(cls, name), False
    if not callable(func):
        raise PredictorError(f"{cls.__name__}.{name} must be a method")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as e:
        raise PredictorError(f"{cls.__name__}.{name}: cannot read its signature ({e})") from None
    params = list(sig.parameters.values())
    if drop_self and params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                   inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    names = []
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.kind == inspect.Parameter.POSITIONAL_ONLY:
            raise PredictorError(
                f"{cls.__name__}.{name}: '{p.name}' is positional-only; arguments are passed by keyword")
        names.append(p.name)
    return names


def _check(cls, name: str, params: list, allowed) -> None:
    advertised, hidden = allowed
    for p in params:
        if p not in advertised and p not in hidden:
            raise PredictorError(f"{cls.__name__}.{name}: '{p}' is not a supported argument; "
                                 f"supported: {', '.join(advertised)}")


def _own_init(cls) -> bool:
    return getattr(cls, "__init__", object.__init__) is not object.__init__


@dataclass
class Loaded:
    cls: type
    instance: object
    predict: object
    post_predict: object  # None when the class has none
    predict_args: tuple
    post_predict_args: tuple
    module: object
    uses_metrics: bool = False  # the constructor took metrics_client


def import_predictor_module(spec: Spec):
    path = os.path.join(spec.project_dir, spec.predictor_path)
    if not os.path.isfile(path):
        raise PredictorError(f"predictor file {spec.predictor_path} not found in {spec.project_dir}")
    if path.endswith(".pickle"):
        try:
            import dill  # noqa: F401
        except ImportError:
            raise PredictorError(f"{spec.predictor_path}: a pickled predictor needs the 'dill' package") from None
        with open(path, "rb") as f:
            cls = dill.load(f)
        return None, cls
    module_spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if module_spec is None or module_spec.loader is None:
        raise PredictorError(f"{spec.predictor_path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[MODULE_NAME] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(MODULE_NAME, None)
        raise
    return module, None


def find_class(spec: Spec, module, pickled):
    name = spec.class_name
    if pickled is not None:
        cls = pickled
        if not inspect.isclass(cls):
            raise PredictorError(f"{spec.predictor_path}: the pickle must hold a class named {name}")
        return cls
    cls = getattr(module, name, None)
    if cls is None:
        others = [n for n in CLASS_NAMES.values() if n != name and inspect.isclass(getattr(module, n, None))]
        hint = f" (found {', '.join(others)}: check predictor type)" if others else ""
        raise PredictorError(
            f"{spec.predictor_path}: no class named {name} (expected for predictor type "
            f"{spec.predictor_type}){hint}")
    if not inspect.isclass(cls):
        raise PredictorError(f"{spec.predictor_path}: {name} must be a class, not {type(cls).__name__}")
    return cls


def validate(spec: Spec, cls):
    """-> (init_args, predict_args, post_predict_args or None). Raises PredictorError."""
    name = cls.__name__
    init_args = None
    if _own_init(cls):
        init_args = _params(cls, "__init__")
        _check(cls, "__init__", init_args, INIT_ARGS[spec.predictor_type])
    if not callable(getattr(cls, "predict", None)):
        raise PredictorError(f"{name} ({spec.predictor_path}): the required method predict is not defined")
    predict_args = _params(cls, "predict")
    _check(cls, "predict", predict_args, PREDICT_ARGS)
    post_args = None
    if getattr(cls, "post_predict", None) is not None:
        post_args = _params(cls, "post_predict")
        _check(cls, "post_predict", post_args, POST_PREDICT_ARGS)
    if spec.models is not None and spec.predictor_type == "python":
        # Cortex: with predictor.model_path / predictor.models, python_client and load_model are required
        if init_args is None or "python_client" not in init_args:
            raise PredictorError(
                f"{name} ({spec.predictor_path}): __init__ must take a python_client argument when "
                f"predictor.model_path or predictor.models is configured (save it and call "
                f"python_client.get_model() in predict)")
        if not callable(getattr(cls, "load_model", None)):
            raise PredictorError(
                f"{name} ({spec.predictor_path}): the method load_model(self, model_path) is required when "
                f"predictor.model_path or predictor.models is configured")
        load_args = _params(cls, "load_model")
        _check(cls, "load_model", load_args, LOAD_MODEL_ARGS)
        if "model_path" not in load_args:
            raise PredictorError(f"{name}.load_model: 'model_path' is a required argument")
    return init_args, predict_args, post_args


def construct(spec: Spec, cls, init_args, client=None, metrics_client=None):
    if init_args is None:
        return cls()
    kwargs = {}
    client_arg = CLIENT_ARG[spec.predictor_type]
    for p in init_args:
        # the model client when the API has models (None otherwise, as a client-less Cortex would
        # not run); metrics_client: metrics.MetricsClient; job_spec: None (batch only).
        if p == "config":
            kwargs[p] = copy.deepcopy(spec.config)
        elif p == client_arg:
            kwargs[p] = client
        elif p == "metrics_client":
            kwargs[p] = metrics_client
        else:
            kwargs[p] = None
    return cls(**kwargs)


def _sync(fn):
    """An `async def` method runs to completion on a per-thread event loop."""
    if not inspect.iscoroutinefunction(fn):
        return fn
    from .aio import run_coroutine

    def call(**kwargs):
        return run_coroutine(fn(**kwargs))

    call.__wrapped__ = fn
    return call


def load(spec: Spec, registry=None, before_construct=None, metrics=None) -> Loaded:
    """Import, validate and construct the predictor. With models, `registry` (models.Registry) backs
    the client handed to the constructor, and `before_construct()` runs right before it (the worker
    waits for the first MODELS frame there). `metrics` (metrics.MetricsBuffer) backs the metrics_client
    of a constructor that takes one."""
    module, pickled = import_predictor_module(spec)
    cls = find_class(spec, module, pickled)
    init_args, predict_args, post_args = validate(spec, cls)
    client = None
    if registry is not None:
        from .models import make_client
        client = make_client(spec.predictor_type, registry)
    if before_construct is not None:
        before_construct()
    uses_metrics = init_args is not None and "metrics_client" in init_args
    metrics_client = None
    if uses_metrics:
        from .metrics import MetricsBuffer, MetricsClient
        metrics_client = MetricsClient(metrics if metrics is not None else MetricsBuffer())
    instance = construct(spec, cls, init_args, client, metrics_client)
    if registry is not None and spec.predictor_type == "python":
        load_model = _sync(getattr(instance, "load_model"))

        def load_fn(path, name, version):
            return load_model(model_path=path)
        registry.load_fn = load_fn
    predict = _sync(getattr(instance, "predict"))
    post = _sync(getattr(instance, "post_predict")) if post_args is not None else None
    return Loaded(cls=cls, instance=instance, predict=predict, post_predict=post,
                  predict_args=tuple(predict_args), post_predict_args=tuple(post_args or ()), module=module,
                  uses_metrics=uses_metrics)
