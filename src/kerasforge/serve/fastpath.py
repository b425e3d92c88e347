"""TF Serving's REST endpoints answered in plain ASGI, without FastAPI's routing.

A predict request is the one thing a busy server does thousands of times a second; routing it through
FastAPI (dependency solving, telemetry, exception middleware) cost about a fifth of the server's CPU in a
profile of the load benchmark. :class:`PredictFastPath` answers every URL of TF Serving's API here
(:mod:`kerasforge.serve.tfserving`: status, metadata, ``:predict``, ``:regress``, ``:classify`` with
``examples``) with the same validation, micro-batcher and error bodies, and hands every other request
(kforge's own ``:classify`` forms, the page, docs) to the FastAPI app unchanged; the same routes are
declared there too, so they are documented in ``/docs`` and behave identically either way.

Example:
    >>> app = PredictFastPath(fastapi_app, registry, run_model, limits)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .errors import ServeError
from .guard import replay_body
from .inputs import Limits, dumps, parse_json
from .registry import ModelRegistry
from .tfserving import ROUTE, RunModel, answer, metadata_body, status_body

_JSON_HEADERS = [(b"content-type", b"application/json")]


class PredictFastPath:
    """ASGI app: TF Serving's URLs answered here, everything else passed to ``app``."""

    def __init__(self, app: Any, registry: ModelRegistry, run_model: RunModel, limits: Limits, *,
                 strict_inputs: bool = False) -> None:
        self.app = app
        self.registry = registry
        self.run_model = run_model
        self.limits = limits
        self.strict_inputs = strict_inputs

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = ROUTE.match(scope.get("path", "")) if scope["type"] == "http" else None
        method = scope.get("method")
        tail = match.group("tail") if match else None
        if match is None or not ((method == "GET" and tail in (None, "/metadata"))
                                 or (method == "POST" and tail in (":predict", ":regress", ":classify"))):
            await self.app(scope, receive, send)
            return
        name, version, label = match.group("name", "version", "label")
        extra: list[tuple[bytes, bytes]] = []
        try:
            if method == "GET":
                status, payload = 200, dumps(status_body(self.registry, name, version, label) if tail is None
                                             else metadata_body(self.registry.get(name, version, label)))
            else:
                body = await _read_body(receive)
                if body is None:  # the client went away
                    return
                if tail == ":classify" and not _tf_classify(scope, body):
                    await self.app(scope, replay_body(body, receive), send)  # kforge's own :classify forms
                    return
                model = self.registry.get(name, version, label)
                payload, extra = await answer(tail[1:], model, parse_json(body), self.run_model, self.limits,
                                              self.strict_inputs)
                status = 200
        except ServeError as exc:
            status, payload, extra = exc.status, dumps(exc.body()), exc.headers()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS, *extra]})
        await send({"type": "http.response.body", "body": payload})


def _tf_classify(scope: dict, body: bytes) -> bool:
    """A TF Serving classify body (JSON with ``examples``), not one of kforge's own forms."""
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
    return not content_type.startswith((b"multipart/", b"application/x-www-form-urlencoded")) and \
        b'"examples"' in body


async def _read_body(receive: Any) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
