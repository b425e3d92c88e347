"""The server's outer layer (plain ASGI): host and origin checks, bearer token, content types, request-size
and body-time limits, a cap on each client's requests in flight, request metrics.

It runs before FastAPI parses anything and in this order, each refusal answered without reading the body:
``Host`` not allowed (400, against DNS rebinding: by default only loopback names when bound to loopback),
a cross-site ``Origin`` not allowed by ``--cors-origins`` (403), no token (401; ``/healthz`` is always
open), a JSON endpoint sent another content type (415: a web page can make a browser post
``text/plain`` or a form anywhere, but not JSON without asking), too many requests of this client in
flight (429), an oversized body (413 from ``Content-Length``, or cut off at the limit when chunked), a body
that does not arrive in time (408). A browser cannot send an ``Authorization`` header when it opens a
page, so ``GET /?token=T`` sets an HttpOnly, SameSite=Strict cookie (``Secure`` behind TLS) that the
page's own requests then carry.

Example:
    >>> app = Guard(fastapi_app, token="s3cret", max_request_bytes=10_000_000, metrics=Metrics())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import error_body
from .metrics import Metrics

OPEN_PATHS = frozenset({"/healthz"})
COOKIE = "kforge_token"
_KNOWN = frozenset({"/", "/healthz", "/metrics", "/v1/models", "/docs", "/docs/oauth2-redirect", "/redoc",
                    "/openapi.json"})
_MODEL_VERB = re.compile(r"^/v1/models/[^/:]+(?:/versions/[^/:]+|/labels/[^/:]+)?:(predict|classify|regress)$")
_MODEL = re.compile(r"^/v1/models/[^/:]+(?:/versions/[^/:]+|/labels/[^/:]+)?(/metadata)?$")
_JSON_ONLY = re.compile(r":(predict|regress)$")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Security:
    """What the guard enforces beyond the token (``kforge serve`` sets it from its flags).

    ``allowed_hosts``: names the ``Host`` header may carry (``None``: any); ``cors_origins``: origins that
    may call the API from a browser (none by default); ``secure_cookies``: behind TLS; ``max_client_requests``:
    requests one client address may have in flight; ``body_timeout``: seconds for a whole request body.
    """

    allowed_hosts: tuple[str, ...] | None = None
    cors_origins: tuple[str, ...] = ()
    secure_cookies: bool = False
    max_client_requests: int = 128
    body_timeout: float = 30.0

    @classmethod
    def for_host(cls, host: str, allowed_hosts: list[str] | None = None, **kwargs: Any) -> Security:
        """The default ``allowed_hosts`` for a server bound to ``host``: loopback names when it is loopback.

        >>> Security.for_host("127.0.0.1").allowed_hosts
        ('localhost', '127.0.0.1', '::1')
        >>> Security.for_host("0.0.0.0").allowed_hosts is None
        True
        """
        if allowed_hosts:
            hosts = tuple(h.strip().lower() for h in allowed_hosts if h.strip())
            return cls(allowed_hosts=None if "*" in hosts else hosts, **kwargs)
        loopback = host in LOOPBACK_NAMES or host.startswith("127.")
        return cls(allowed_hosts=(*LOOPBACK_NAMES, *(() if host in LOOPBACK_NAMES else (host,)))
                   if loopback else None, **kwargs)


def host_name(value: str) -> str:
    """The name in a ``Host`` header, without its port.

    >>> host_name("[::1]:8000"), host_name("LocalHost:80"), host_name("example.com")
    ('::1', 'localhost', 'example.com')
    """
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def secure(app: Any, security: Security | None) -> Any:
    """``app`` behind Starlette's CORS middleware when ``security`` allows origins (CORS is off otherwise)."""
    if security is None or not security.cors_origins:
        return app
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware(app, allow_origins=list(security.cors_origins), allow_methods=["GET", "POST"],
                          allow_headers=["authorization", "content-type"], allow_credentials=False)


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

    def __init__(self, app: Any, *, token: str | None, max_request_bytes: int, metrics: Metrics,
                 security: Security | None = None) -> None:
        self.app = app
        self.token = token or None
        self.max_request_bytes = int(max_request_bytes)
        self.metrics = metrics
        self.security = security or Security()
        self.in_flight: dict[str, int] = defaultdict(int)

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
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _json(send, *refusal)
            return
        if self.token and scope.get("path") not in OPEN_PATHS:
            if scope.get("path") == "/" and self._query_token_ok(scope):
                flags = "; Secure" if self.security.secure_cookies else ""
                await _respond(send, 303, b"", [(b"location", b"/"), (b"set-cookie", (
                    f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/{flags}").encode("latin-1"))])
                return
            if not self._authorized(headers):
                await _json(send, 401, "unauthorized", "this server needs a bearer token: send the header "
                            "'Authorization: Bearer <token>' (in a browser, open /?token=<token> once)",
                            [(b"www-authenticate", b'Bearer realm="kforge"')])
                return
        media = _media_type(scope, headers)
        if media is not None:
            await _json(send, 415, "unsupported_media_type", f"{scope.get('path', '')[:200]} takes JSON, but the "
                        f"request's Content-Type is {media[:100]!r}; send 'Content-Type: application/json'")
            return
        client = (scope.get("client") or ("?", 0))[0]
        if self.in_flight[client] >= self.security.max_client_requests:
            await _json(send, 429, "too_many_requests", f"this client already has "
                        f"{self.security.max_client_requests} requests in flight; wait for their answers",
                        [(b"retry-after", b"1")])
            return
        self.in_flight[client] += 1
        try:
            await self._handle_body(scope, receive, send, headers)
        finally:
            self.in_flight[client] -= 1
            if not self.in_flight[client]:
                del self.in_flight[client]

    def _refusal(self, scope: dict, headers: dict[str, str]) -> tuple[int, str, str] | None:
        """Host and Origin checks (before the token: they protect the token's cookie as well)."""
        allowed = self.security.allowed_hosts
        host = host_name(headers.get("host", ""))
        if allowed is not None and host not in allowed:
            return 400, "invalid_host", (f"the Host header {host[:100]!r} is not allowed on this server; start it "
                                         "with --allowed-hosts NAME (or bind it to a public address)")
        origin = headers.get("origin")
        if origin and scope.get("method") not in ("GET", "HEAD", "OPTIONS"):
            same = urlsplit(origin).netloc.lower() == headers.get("host", "").lower()
            if not same and origin not in self.security.cors_origins and "*" not in self.security.cors_origins:
                return 403, "cross_origin", (f"requests from the web origin {origin[:100]!r} are not allowed; "
                                             "start the server with --cors-origins ORIGIN to allow it")
        return None

    async def _handle_body(self, scope: dict, receive: Any, send: Any, headers: dict[str, str]) -> None:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_request_bytes):
            await _json(send, 413, "request_too_large", f"the request body is larger than the limit of "
                        f"{self.max_request_bytes} bytes; send a smaller body (or start the server with a "
                        "larger --max-request-bytes)")
            return
        try:  # asyncio.timeout: one timer for the whole body, no task per read (wait_for made one each)
            async with asyncio.timeout(self.security.body_timeout):
                body = await _read_capped(receive, self.max_request_bytes)
        except TimeoutError:
            await _json(send, 408, "body_timeout", f"the request body did not arrive within "
                        f"{self.security.body_timeout:g} s", [(b"connection", b"close")])
            return
        if body is None:  # the client went away
            return
        if body is _TOO_LARGE:
            await _json(send, 413, "request_too_large", f"the request body is larger than the limit of "
                        f"{self.max_request_bytes} bytes; send a smaller body")
            return
        await self.app(scope, replay_body(body, receive), send)

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


_TOO_LARGE = object()


async def _read_capped(receive: Any, limit: int) -> Any:
    """The whole body (``None`` if the client left, ``_TOO_LARGE`` past ``limit``: a chunked body is capped too)."""
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return _TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _media_type(scope: dict, headers: dict[str, str]) -> str | None:
    """The content type to refuse (415) on a JSON endpoint, or None when it is acceptable.

    JSON is always fine; no type too (``requests.post(url, data=...)``); ``curl -d``'s form type only
    without an ``Origin`` (a browser always sends one, and could send that type cross-site unasked).
    """
    if scope.get("method") != "POST" or not _JSON_ONLY.search(scope.get("path", "")):
        return None
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        return None
    if media == "application/x-www-form-urlencoded" and "origin" not in headers:
        return None
    return media


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Any, status: int, code: str, message: str,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await _respond(send, status, body, [(b"content-type", b"application/json"),
                                        (b"x-kforge-error", code.encode()), *(headers or [])])


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that hands the already-read ``body`` over once, then defers to ``receive``."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
