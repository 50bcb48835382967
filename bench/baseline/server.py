"""The baseline: a Cortex v0.23-style realtime runtime for one Python predictor.

Built the way Cortex's own `pkg/workloads/cortex/serve/serve.py` (v0.23.0) was: one uvicorn process
running a FastAPI app with CORS middleware, a request-accounting middleware and a payload-parsing
middleware (both `@app.middleware("http")`), and a *sync* POST route that calls `predict` on a
one-thread ThreadPoolExecutor installed as the event loop's default executor. JSON bodies are parsed
with `json.loads(body)` in the middleware, the result is returned as `json.dumps(prediction)`.

Differences from the original, all in the baseline's favour: no request-tracking / metrics files are
written per request, no liveness-file timer, no nginx in front of uvicorn (Cortex proxied every request
through nginx over a unix socket).

Modern Starlette runs sync endpoints through anyio's thread limiter rather than the loop's default
executor (Starlette 0.13.6, which Cortex pinned, used `loop.run_in_executor(None, ...)`); to keep the
original's one-request-at-a-time semantics the anyio limiter is set to one token as well.

BASELINE_VARIANT=lean drops the two `@app.middleware("http")` layers (Starlette's BaseHTTPMiddleware,
the costliest part of the stack) and parses the body in an async route that then awaits `predict` on the
same one-thread default executor: a leaner runtime than Cortex shipped, for a sensitivity check.

CORTEX_PREDICTOR_TYPE=onnx serves an `ONNXPredictor(onnx_client, config)` instead of a `PythonPredictor`,
with `onnx_client` from bench/baseline/onnx_client.py on the model at CORTEX_MODEL_PATH (a .onnx file or a
folder holding one; default: `model` beside the predictor), loaded once at startup.

Run:  CORTEX_PREDICTOR=examples/echo/predictor.py uvicorn server:app --app-dir bench/baseline
      CORTEX_PREDICTOR_TYPE=onnx CORTEX_PREDICTOR=/tmp/iris/predictor.py CORTEX_MODEL_PATH=/tmp/iris/model \
          uvicorn server:app --app-dir bench/baseline
"""

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

HERE = os.path.dirname(os.path.abspath(__file__))
PREDICTOR_PATH = os.path.abspath(
    os.environ.get("CORTEX_PREDICTOR", os.path.join(HERE, "..", "..", "examples", "echo", "predictor.py"))
)
THREADS = int(os.environ.get("CORTEX_THREADS_PER_PROCESS", "1"))
PREDICT_ROUTE = "/"
VARIANT = os.environ.get("BASELINE_VARIANT", "cortex")
PREDICTOR_TYPE = os.environ.get("CORTEX_PREDICTOR_TYPE", "python")  # python | onnx
MODEL_PATH = os.path.abspath(os.environ.get("CORTEX_MODEL_PATH", os.path.join(os.path.dirname(PREDICTOR_PATH), "model")))

request_thread_pool = ThreadPoolExecutor(max_workers=THREADS)

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)

local_cache = {}


def load_predictor():
    project_dir = os.path.dirname(PREDICTOR_PATH)
    os.chdir(project_dir)
    sys.path.insert(0, project_dir)
    spec = importlib.util.spec_from_file_location("cortex_predictor", PREDICTOR_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if PREDICTOR_TYPE == "onnx":
        # Cortex v0.23 handed ONNXPredictor an onnx_client built on the API's model (bench/baseline/onnx_client.py)
        sys.path.insert(0, HERE)
        from onnx_client import ONNXClient
        impl = module.ONNXPredictor(onnx_client=ONNXClient(MODEL_PATH), config={})
    else:
        impl = module.PythonPredictor(config={})
    local_cache["predictor_impl"] = impl
    local_cache["predict_fn_args"] = inspect.getfullargspec(impl.predict).args


@app.on_event("startup")
async def startup():
    asyncio.get_running_loop().set_default_executor(request_thread_pool)
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    # Cortex ran __init__ on the request pool's thread, before serving.
    await asyncio.get_running_loop().run_in_executor(None, load_predictor)


def is_prediction_request(request):
    return request.url.path == PREDICT_ROUTE and request.method == "POST"


@app.exception_handler(Exception)
async def uncaught_exception_handler(request, e):
    return Response(content="internal server error", status_code=500)


async def register_request(request: Request, call_next):
    request.state.start_time = time.time()
    response = None
    try:
        response = await call_next(request)
    finally:
        if is_prediction_request(request):
            # Cortex posted status/latency metrics here (local: per-pid files).
            _ = time.time() - request.state.start_time
    return response


async def parse_payload(request: Request, call_next):
    if not is_prediction_request(request) or "payload" not in local_cache["predict_fn_args"]:
        return await call_next(request)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form") or content_type.startswith("application/x-www-form-urlencoded"):
        try:
            request.state.payload = await request.form()
        except Exception as e:
            return PlainTextResponse(content=str(e), status_code=400)
    elif content_type.startswith("application/json"):
        try:
            request.state.payload = json.loads(await request.body())
        except json.JSONDecodeError as e:
            return JSONResponse(content={"error": str(e)}, status_code=400)
    else:
        request.state.payload = await request.body()
    return await call_next(request)


def predict(request: Request):
    impl = local_cache["predictor_impl"]
    kwargs = {}
    args = local_cache["predict_fn_args"]
    if "payload" in args:
        kwargs["payload"] = request.state.payload
    if "headers" in args:
        kwargs["headers"] = request.headers
    if "query_params" in args:
        kwargs["query_params"] = request.query_params
    prediction = impl.predict(**kwargs)
    if isinstance(prediction, bytes):
        return Response(content=prediction, media_type="application/octet-stream")
    if isinstance(prediction, str):
        return Response(content=prediction, media_type="text/plain")
    if isinstance(prediction, Response):
        return prediction
    return Response(content=json.dumps(prediction), media_type="application/json")


def get_summary():
    return {"message": "make a prediction by sending a post request to this endpoint with a json payload"}


async def predict_lean(request: Request):
    args = local_cache["predict_fn_args"]
    if "payload" in args:
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form") or content_type.startswith("application/x-www-form-urlencoded"):
            request.state.payload = await request.form()
        elif content_type.startswith("application/json"):
            try:
                request.state.payload = json.loads(await request.body())
            except json.JSONDecodeError as e:
                return JSONResponse(content={"error": str(e)}, status_code=400)
        else:
            request.state.payload = await request.body()
    return await asyncio.get_running_loop().run_in_executor(None, predict, request)


if VARIANT == "lean":
    app.add_api_route(PREDICT_ROUTE, predict_lean, methods=["POST"])
else:
    # Starlette applies the middleware added last outermost, as Cortex's decorators did.
    app.middleware("http")(register_request)
    app.middleware("http")(parse_payload)
    app.add_api_route(PREDICT_ROUTE, predict, methods=["POST"])
app.add_api_route(PREDICT_ROUTE, get_summary, methods=["GET"])
