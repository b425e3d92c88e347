"""The server's outer layer (plain ASGI): bearer-token check, request-size limit, request metrics.

It runs before FastAPI parses anything, so an oversized body is refused (413) from its
``Content-Length`` without being read, a chunked body is cut off at the limit, and requests without
the token (401) never reach a model. ``/healthz`` is always open. A browser cannot send an
``Authorization`` header when it opens a page, so ``GET /?token=T`` sets an HttpOnly, SameSite=Strict
cookie that the page's own requests then carry.

Example:
    >>> app = Guard(fastapi_app, token="s3cret", max_request_bytes=10_000_000, metrics=Metrics())  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

from .errors import error_body
from .metrics import Metrics

OPEN_PATHS = frozenset({"/healthz"})
COOKIE = "kforge_token"
_KNOWN = frozenset({"/", "/healthz", "/metrics", "/v1/models", "/docs", "/docs/oauth2-redirect", "/redoc",
                    "/openapi.json"})
_MODEL_VERB = re.compile(r"^/v1/models/[^/]+:(predict|classify)$")
_MODEL = re.compile(r"^/v1/models/[^/]+$")


def endpoint_label(path: str) -> str:
    """The route template of ``path`` for metrics labels (names of models are not labels).

    >>> endpoint_label("/v1/models/fashion:predict")
    '/v1/models/{name}:predict'
    """
    if path in _KNOWN:
        return path
    match = _MODEL_VERB.match(path)
    if match:
        return "/v1/models/{name}:" + match.group(1)
    return "/v1/models/{name}" if _MODEL.match(path) else "other"


class Guard:
    """ASGI middleware: token, body-size limit and request metrics around ``app``."""

    def __init__(self, app: Any, *, token: str | None, max_request_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.token = token or None
        self.max_request_bytes = int(max_request_bytes)
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_and_note)
        finally:
            self.metrics.observe_request(endpoint_label(scope.get("path", "")), scope.get("method", ""),
                                         status[0] or 499, time.perf_counter() - start)

    async def _handle(self, scope: dict, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and scope.get("path") not in OPEN_PATHS:
            if scope.get("path") == "/" and self._query_token_ok(scope):
                await _respond(send, 303, b"", [(b"location", b"/"), (b"set-cookie", (
                    f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/").encode("latin-1"))])
                return
            if not self._authorized(headers):
                await _json(send, 401, "unauthorized", "this server needs a bearer token: send the header "
                            "'Authorization: Bearer <token>' (in a browser, open /?token=<token> once)",
                            [(b"www-authenticate", b'Bearer realm="kforge"')])
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_request_bytes):
            await _json(send, 413, "request_too_large", f"the request body is larger than the limit of "
                        f"{self.max_request_bytes} bytes; send a smaller body (or start the server with a "
                        "larger --max-request-bytes)")
            return
        chunks, total = [], 0
        while True:  # read the body (bounded by the limit) so that a chunked body is capped too
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_request_bytes:
                await _json(send, 413, "request_too_large", f"the request body is larger than the limit of "
                            f"{self.max_request_bytes} bytes; send a smaller body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode()):
            return True
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE and hmac.compare_digest(value.encode(), self.token.encode()):
                return True
        return False

    def _query_token_ok(self, scope: dict) -> bool:
        assert self.token is not None
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Any, status: int, code: str, message: str,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await _respond(send, status, body, [(b"content-type", b"application/json"), *(headers or [])])
