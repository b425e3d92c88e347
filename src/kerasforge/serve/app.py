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
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .batching import MicroBatcher
from .errors import ServeError, error_body
from .fastpath import PredictFastPath
from .guard import Guard, Security, secure
from .inputs import Limits, examples_array, image_array, parse_json, text_array, top_k
from .metrics import Metrics
from .registry import ModelRegistry, ServedModel
from .reload import VersionWatcher
from .tfserving import answer, metadata_body, status_body

PREFIXES = (("/v1/models/{name}", ""), ("/v1/models/{name}/versions/{version}", "a version"),
            ("/v1/models/{name}/labels/{label}", "a labelled version"))

log = logging.getLogger("kerasforge.serve")

_ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": {
    "type": "string", "description": "what was wrong and how to fix it (TF Serving's error body)"}}}}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the request is malformed (shape, dtype, NaN, not an image...)", **_ERROR},
    401: {"description": "a bearer token is needed", **_ERROR},
    404: {"description": "no such model, version or label", **_ERROR},
    413: {"description": "the body, the image or the batch is too large", **_ERROR}}
_PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "TF-Serving REST body: row format ('instances') or columnar ('inputs'); "
    "RAW examples (pixels 0..255, word ids or strings)",
    "properties": {"instances": {"type": "array", "items": {}}, "inputs": {}}}}}}}
_EXAMPLES_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "TF Serving classify/regress body: examples (feature -> value), optional context",
    "properties": {"examples": {"type": "array", "items": {"type": "object"}}, "context": {"type": "object"},
                   "signature_name": {"type": "string"}}}}}}}
_CLASSIFY_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary", "description": "an image file"},
        "text": {"type": "string", "description": "text for a text model"}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "text": {"type": "string"}, "instance": {"description": "one RAW example, as in :predict"},
        "examples": {"type": "array", "items": {"type": "object"}, "description": "TF Serving's form"}}}}}}}


def create_app(registry: ModelRegistry, *, token: str | None = None, max_batch: int = 64,
               batch_timeout_ms: float = 2.0, max_request_bytes: int = 10 * 1024 * 1024,
               limits: Limits | None = None, strict_inputs: bool = False, security: Security | None = None,
               reload_seconds: float = 0.0, grpc_address: tuple[str, int] | None = None) -> Any:
    """The ASGI app serving every model in ``registry`` (FastAPI inside the fast path and :class:`~.guard.Guard`).

    ``reload_seconds`` > 0 watches versioned base paths for new versions (hot reload); ``grpc_address``
    ``(host, port)`` also serves TF Serving's gRPC API there (:mod:`.grpc_service`).

    >>> app = create_app(ModelRegistry.from_paths(["runs/x"]), token="s3cret")   # doctest: +SKIP
    """
    limits = limits or Limits()
    metrics = Metrics()
    for model in registry.all_models():
        metrics.models[model.name] = model.engine.name

    def make_batcher(model: ServedModel) -> MicroBatcher:
        return MicroBatcher(model.engine.predict, max_batch=max_batch, timeout_ms=batch_timeout_ms,
                            on_batch=lambda n, name=model.name: metrics.observe_batch(name, n),
                            inline=model.engine.name == "onnxruntime")

    batchers: dict[ServedModel, MicroBatcher] = {}  # this app's (a registry may back several apps)

    async def batcher_of(model: ServedModel) -> MicroBatcher:
        batcher = batchers.get(model)
        if batcher is None:  # no await between the check and the assignment: one batcher per model
            batcher = batchers[model] = make_batcher(model)
            await batcher.start()
        return batcher

    async def start_version(model: ServedModel) -> None:
        """Warm ``model`` up off the event loop and start its batcher (start-up and hot reload)."""
        await asyncio.get_running_loop().run_in_executor(None, _warm_up, model)
        await batcher_of(model)
        metrics.models[model.name] = model.engine.name

    async def stop_version(model: ServedModel) -> None:
        batcher = batchers.pop(model, None)
        if batcher is not None:
            await batcher.stop()

    watcher = VersionWatcher(registry, start_version, stop_version, interval=reload_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        for model in registry.all_models():
            await start_version(model)
        # Everything loaded so far lives as long as the server: keep it out of the garbage collector's
        # full passes, which otherwise walk every object of the runtimes on the requests' time.
        gc.collect()
        gc.freeze()
        watcher.start()
        grpc_server = None
        if grpc_address is not None:
            from .grpc_service import GrpcServices, start_grpc

            grpc_server = await start_grpc(GrpcServices(registry, run_model, limits, token=token,
                                                        strict_inputs=strict_inputs), *grpc_address)
        yield
        if grpc_server is not None:
            await grpc_server.stop(grace=2)
        await watcher.stop()
        for model in list(batchers):
            await stop_version(model)

    app = FastAPI(title="kerasforge serve", version=__version__, lifespan=lifespan,
                  description="Models trained with kerasforge, behind TF Serving's REST API.")
    page = resources.files("kerasforge.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    _error_handlers(app)

    async def run_model(model: ServedModel, x: np.ndarray) -> np.ndarray:
        batcher = await batcher_of(model)
        model.inflight += 1
        try:
            return await batcher.submit(x)
        except Exception as exc:  # inputs are validated first, so this is a model that cannot run them
            log.exception("model %s version %s failed on a batch", model.name, model.version)
            raise ServeError(422, "inference_failed", f"the model could not run on this input "
                             f"({type(exc).__name__})", fix="Check the input against GET /v1/models/"
                             f"{model.name}/metadata.") from exc
        finally:
            model.inflight -= 1

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", summary="Liveness: 200 when the server is up (never needs the token)")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(registry)}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", summary="kforge extension: the served models, their versions, labels and metadata")
    async def list_models() -> dict[str, Any]:
        return {"models": [{**entry.latest().metadata(), "served_versions": [str(v) for v in sorted(entry.versions)],
                            "labels": {k: str(v) for k, v in sorted(entry.labels.items())}}
                           for entry in registry.entries() if entry.latest() is not None]}

    _tf_serving_routes(app, registry, run_model, limits, strict_inputs, max_request_bytes)
    fast = PredictFastPath(app, registry, run_model, limits, strict_inputs=strict_inputs)
    return secure(Guard(fast, token=token, max_request_bytes=max_request_bytes, metrics=metrics,
                        security=security), security)


def _tf_serving_routes(app: FastAPI, registry: ModelRegistry, run_model, limits: Limits, strict: bool,
                       max_bytes: int) -> None:
    """TF Serving's URLs (each with /versions/N and /labels/L) as FastAPI routes: documented in /docs.

    The fast path answers them first; these answer identically when reached.
    """
    for prefix, extra in PREFIXES:
        where = f" ({extra})" if extra else ""

        @app.get(prefix, summary=f"TF Serving model status{where}", responses=ERRORS)
        async def status(name: str, version: str | None = None, label: str | None = None) -> dict[str, Any]:
            return status_body(registry, name, version, label)

        @app.get(prefix + "/metadata", summary=f"TF Serving model metadata: signature_def{where}", responses=ERRORS)
        async def metadata(name: str, version: str | None = None, label: str | None = None) -> dict[str, Any]:
            return metadata_body(registry.get(name, version, label))

        for verb, what in (("predict", "outputs for RAW examples (instances or inputs)"),
                           ("regress", "one value per example (examples)")):
            app.post(f"{prefix}:{verb}", summary=f"TF Serving {verb}: {what}{where}", responses=ERRORS,
                     openapi_extra=_PREDICT_BODY if verb == "predict" else _EXAMPLES_BODY,
                     response_class=Response)(_verb_endpoint(verb, registry, run_model, limits, strict))

        @app.post(prefix + ":classify", summary=f"TF Serving classify (examples) or kforge's top-k for one image or "
                  f"text{where}", responses=ERRORS, openapi_extra=_CLASSIFY_BODY)
        async def classify(request: Request, name: str, version: str | None = None, label: str | None = None,
                           k: int = Query(5, ge=1, le=1000, description="how many classes (kforge's forms)")) -> Any:
            model = registry.get(name, version, label)
            body = await request.body()
            content_type = request.headers.get("content-type", "").lower()
            if not content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
                payload = parse_json(body)
                if isinstance(payload, dict) and "examples" in payload:
                    data, headers = await answer("classify", model, payload, run_model, limits, strict)
                    return Response(data, media_type="application/json",
                                    headers={k_.decode(): v.decode() for k_, v in headers})
            x = await _classify_input(request, model, limits, max_bytes)
            from ..predict import _probabilities
            from .outputs import main_columns

            probs = _probabilities(main_columns(np.asarray(await run_model(model, x)), model.engine))
            return {"model": model.name, "version": str(model.version), "engine": model.engine.name,
                    "top": top_k(probs[0], model.class_names, min(k, probs.shape[1]))}


def _verb_endpoint(verb: str, registry: ModelRegistry, run_model, limits: Limits, strict: bool):
    async def endpoint(request: Request, name: str, version: str | None = None,
                       label: str | None = None) -> Response:
        body, headers = await answer(verb, registry.get(name, version, label), parse_json(await request.body()),
                                     run_model, limits, strict)
        return Response(body, media_type="application/json", headers={k.decode(): v.decode() for k, v in headers})

    endpoint.__name__ = f"tf_{verb}"
    return endpoint


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
        return JSONResponse(exc.body(), status_code=exc.status,
                            headers={k.decode(): v.decode() for k, v in exc.headers()})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ())), e.get("msg", "")) for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "; ".join(parts)[:500] or "invalid request"),
                            status_code=400, headers={"x-kforge-error": "invalid_request"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = {404: f"no route {request.url.path[:200]} (see /docs)",
                   405: f"{request.method} is not allowed on {request.url.path[:200]}"}.get(
                       exc.status_code, str(exc.detail))
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return JSONResponse(error_body(code, message), status_code=status,
                            headers={**(exc.headers or {}), "x-kforge-error": code})
