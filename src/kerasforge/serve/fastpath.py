"""The hot endpoint, ``POST /v1/models/{name}:predict``, answered in plain ASGI without FastAPI's routing.

A TF-Serving predict request is the one thing a busy server does thousands of times a second; routing it
through FastAPI (dependency solving, telemetry, exception middleware) cost about a fifth of the server's
CPU in a profile of the load benchmark. :class:`PredictFastPath` answers it directly with the very same
validation (:func:`~kerasforge.serve.inputs.instances_array`), micro-batcher and error bodies, and hands
every other request (and every other method on that path) to the FastAPI app unchanged, so the route
stays documented in ``/docs`` and behaves identically either way.

JSON is read and written by :mod:`kerasforge.serve.inputs` (``orjson`` when installed, as
``kerasforge[serve]`` does; the standard library otherwise).

Example:
    >>> app = PredictFastPath(fastapi_app, registry, run_model, limits)   # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from .errors import ServeError
from .inputs import Limits, dumps, instances_array, parse_json
from .registry import ModelRegistry, ServedModel

PREDICT = re.compile(r"^/v1/models/([^/]+):predict$")
_JSON_HEADERS = [(b"content-type", b"application/json")]

RunModel = Callable[[ServedModel, np.ndarray], Awaitable[np.ndarray]]


class PredictFastPath:
    """ASGI app: ``POST …:predict`` answered here, everything else passed to ``app``."""

    def __init__(self, app: Any, registry: ModelRegistry, run_model: RunModel, limits: Limits) -> None:
        self.app = app
        self.registry = registry
        self.run_model = run_model
        self.limits = limits

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = PREDICT.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        try:
            status, payload = 200, await self.predict(match.group(1), body)
        except ServeError as exc:
            status, payload = exc.status, dumps(exc.body())
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS]})
        await send({"type": "http.response.body", "body": payload})

    async def predict(self, name: str, body: bytes) -> bytes:
        """The JSON response to one predict request (``ServeError`` for anything the client must fix)."""
        model = self.registry.get(name)
        payload = parse_json(body)
        x = instances_array(payload, model.engine.spec, self.limits)
        probs = await self.run_model(model, x)
        key = "outputs" if "inputs" in payload else "predictions"  # as TF-Serving answers each format
        return dumps({key: np.ascontiguousarray(probs, dtype=np.float32)})


async def _read_body(receive: Any) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
