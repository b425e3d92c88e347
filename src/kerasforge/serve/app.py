"""The FastAPI app: TF-Serving's REST API, top-k classification, metadata, health, metrics and a web page.

Example:
    >>> import uvicorn                                                           # doctest: +SKIP
    >>> registry = ModelRegistry.from_paths(["runs/fashion_mnist_cnn-20261123-101500"])  # doctest: +SKIP
    >>> uvicorn.run(create_app(registry), host="127.0.0.1", port=8000)         # doctest: +SKIP

    $ curl -d '{"instances": [[[0, 0, ...], ...]]}' localhost:8000/v1/models/fashion_mnist_cnn:predict
    {"predictions": [[0.01, 0.0, ...]]}
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .batching import MicroBatcher
from .errors import ServeError, error_body
from .fastpath import PredictFastPath
from .guard import Guard
from .inputs import Limits, examples_array, image_array, instances_array, parse_json, text_array, top_k
from .metrics import Metrics
from .registry import ModelRegistry, ServedModel

log = logging.getLogger("kerasforge.serve")

_ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": {
    "type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the request is malformed (shape, dtype, NaN, not an image...)", **_ERROR},
    401: {"description": "a bearer token is needed", **_ERROR},
    404: {"description": "no such model", **_ERROR},
    413: {"description": "the body, the image or the batch is too large", **_ERROR}}
_PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "TF-Serving REST body: row format ('instances') or columnar ('inputs'); "
    "RAW examples (pixels 0..255, word ids or strings)",
    "properties": {"instances": {"type": "array", "items": {}}, "inputs": {}}}}}}}
_CLASSIFY_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary", "description": "an image file"},
        "text": {"type": "string", "description": "text for a text model"}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "text": {"type": "string"}, "instance": {"description": "one RAW example, as in :predict"}}}}}}}


def create_app(registry: ModelRegistry, *, token: str | None = None, max_batch: int = 64,
               batch_timeout_ms: float = 2.0, max_request_bytes: int = 10 * 1024 * 1024,
               limits: Limits | None = None) -> Guard:
    """The ASGI app serving every model in ``registry`` (FastAPI inside :class:`~.guard.Guard`).

    >>> app = create_app(ModelRegistry.from_paths(["runs/x"]), token="s3cret")   # doctest: +SKIP
    """
    limits = limits or Limits()
    metrics = Metrics()
    batchers: dict[str, MicroBatcher] = {}
    for model in registry:
        metrics.models[model.name] = model.engine.name
        batchers[model.name] = MicroBatcher(model.engine.predict, max_batch=max_batch, timeout_ms=batch_timeout_ms,
                                            on_batch=lambda n, name=model.name: metrics.observe_batch(name, n),
                                            inline=model.engine.name == "onnxruntime")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        for model in registry:
            await loop.run_in_executor(None, _warm_up, model)
        for batcher in batchers.values():
            await batcher.start()
        # Everything loaded so far lives as long as the server: keep it out of the garbage collector's
        # full passes, which otherwise walk every object of the runtimes on the requests' time.
        gc.collect()
        gc.freeze()
        yield
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(title="kerasforge serve", version=__version__, lifespan=lifespan,
                  description="Models trained with kerasforge, behind TF-Serving's REST API.")
    page = resources.files("kerasforge.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    _error_handlers(app)

    async def run_model(model: ServedModel, x: np.ndarray) -> np.ndarray:
        try:
            return await batchers[model.name].submit(x)
        except Exception as exc:  # inputs are validated first, so this is a model that cannot run them
            log.exception("model %s failed on a batch", model.name)
            raise ServeError(422, "inference_failed", f"the model could not run on this input "
                             f"({type(exc).__name__})", fix="Check the input against GET /v1/models/"
                             f"{model.name}.") from exc

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", summary="Liveness: 200 when the server is up (never needs the token)")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(registry)}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", summary="The served models and their metadata")
    async def list_models() -> dict[str, Any]:
        return {"models": [model.metadata() for model in registry]}

    @app.get("/v1/models/{name}", summary="One model's metadata (classes, input signature, engine, versions)",
             responses=ERRORS)
    async def model_metadata(name: str) -> dict[str, Any]:
        return registry.get(name).metadata()

    @app.post("/v1/models/{name}:predict", summary="TF-Serving predict: probabilities for RAW examples",
              responses=ERRORS, openapi_extra=_PREDICT_BODY)
    async def predict(name: str, request: Request) -> JSONResponse:
        model = registry.get(name)
        payload = parse_json(await request.body())
        x = instances_array(payload, model.engine.spec, limits)
        probs = await run_model(model, x)
        key = "outputs" if "inputs" in payload else "predictions"  # as TF-Serving answers each format
        return JSONResponse({key: probs.tolist()})

    @app.post("/v1/models/{name}:classify", summary="Top-k classes for one uploaded image or text",
              responses=ERRORS, openapi_extra=_CLASSIFY_BODY)
    async def classify(name: str, request: Request,
                       k: int = Query(5, ge=1, le=1000, description="how many classes")) -> dict[str, Any]:
        model = registry.get(name)
        x = await _classify_input(request, model, limits, max_request_bytes)
        probs = await run_model(model, x)
        return {"model": model.name, "engine": model.engine.name,
                "top": top_k(probs[0], model.class_names, min(k, probs.shape[1]))}

    fast = PredictFastPath(app, registry, run_model, limits)
    return Guard(fast, token=token, max_request_bytes=max_request_bytes, metrics=metrics)


async def _classify_input(request: Request, model: ServedModel, limits: Limits, max_bytes: int) -> np.ndarray:
    spec = model.engine.spec
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form(max_files=1, max_fields=8, max_part_size=max_bytes) as form:
            upload = form.get("file")
            if upload is not None and not isinstance(upload, str):
                return image_array(await upload.read(), spec, limits)
            if form.get("text") is not None:
                return text_array(form.get("text"), spec, limits)
        raise ServeError(400, "missing_input", "the form has neither a 'file' (an image) nor a 'text' field",
                         where="body", fix="Upload an image as 'file', or send text as 'text'.")
    payload = parse_json(await request.body())
    if isinstance(payload, dict) and "text" in payload:
        return text_array(payload["text"], spec, limits)
    if isinstance(payload, dict) and "instance" in payload:
        return examples_array([payload["instance"]], spec, where="instance")
    raise ServeError(400, "missing_input", "expected a multipart upload ('file' or 'text') or JSON with 'text' "
                     "or 'instance'", where="body",
                     fix='Send {"text": "..."}, {"instance": [[...]]} or an image file as multipart field "file".')


def _warm_up(model: ServedModel) -> None:
    """One call before serving, so the first request does not pay for tracing or allocation."""
    spec = model.engine.spec
    try:
        if spec.dtype == "string":
            x = np.array(["warm up"], dtype=object)
        else:
            x = np.zeros((1, *[d or 1 for d in spec.shape]), dtype=spec.dtype)
        model.engine.predict(x)
    except Exception:  # a model that cannot warm up still serves (and says why per request)
        log.warning("warm-up of %s failed", model.name, exc_info=True)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ())), e.get("msg", "")) for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "; ".join(parts)[:500] or "invalid request"),
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = {404: f"no route {request.url.path[:200]} (see /docs)",
                   405: f"{request.method} is not allowed on {request.url.path[:200]}"}.get(
                       exc.status_code, str(exc.detail))
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return JSONResponse(error_body(code, message), status_code=status, headers=exc.headers)
