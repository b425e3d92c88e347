"""The HTTP server around the app: uvicorn with connection limits that idle clients cannot exhaust.

uvicorn closes idle keep-alive connections, but a connection that never sends a byte, or sends its
headers a byte at a time, is held forever; a thousand of them exhaust the process's file descriptors
and every new client gets a connection reset. :func:`protocol_class` gives uvicorn's HTTP protocol
(httptools) three rules, applied on the event loop with no thread or poll of its own:

- **header timeout**: a connection must complete a request's headers within ``header_timeout`` seconds
  of opening (or of its previous response), else it is closed;
- **connection cap**: beyond ``max_connections`` the connection waiting longest for a first request
  (then the longest-idle keep-alive one) is closed to make room, so idle sockets never lock out a client
  that is sending requests; with none idle, the new connection is refused;
- the process's open-files limit is raised to its hard limit at start (:func:`raise_open_files_limit`).

The body timeout and each client's cap on requests in flight are the ASGI guard's (:mod:`.guard`).

Example:
    >>> config = uvicorn_config(app, host="127.0.0.1", port=8000, limits=ConnectionLimits())   # doctest: +SKIP
    >>> uvicorn.Server(config).run()                                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("kerasforge.serve")


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection rules of the server (see the module's docstring)."""

    header_timeout: float = 10.0
    keep_alive: float = 5.0
    max_connections: int = 4096


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards ``wanted`` (at most the hard limit); returns the new soft limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft


def protocol_class(limits: ConnectionLimits) -> type:
    """uvicorn's httptools protocol with the header timeout and the connection cap of ``limits``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_timer: Any = None
            self._waiting = True  # for a request's headers
            self._served = 0
            self._since = 0.0

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._since = self.loop.time()
            self._arm()
            if len(self.connections) > limits.max_connections:
                self._make_room()

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(limits.header_timeout, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self._waiting and not self.transport.is_closing():
                self.transport.close()

        def _make_room(self) -> None:
            idle = [c for c in self.connections if c is not self and getattr(c, "_waiting", False)
                    and not c.transport.is_closing()]
            if not idle:
                log.warning("connection cap (%d) reached with every connection busy: refusing one",
                            limits.max_connections)
                self.transport.close()
                return
            victim = min(idle, key=lambda c: (c._served > 0, c._since))  # never served first, then oldest
            victim.transport.close()

        def on_headers_complete(self) -> None:
            self._waiting = False
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            pipelined = bool(self.pipeline)
            super().on_response_complete()
            self._served += 1
            if not pipelined and not self.transport.is_closing():
                self._waiting, self._since = True, self.loop.time()
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpProtocol


def uvicorn_config(app: Any, *, host: str, port: int, limits: ConnectionLimits | None = None,
                   tls_cert: str | None = None, tls_key: str | None = None, log_level: str = "info") -> Any:
    """A ``uvicorn.Config`` for ``app`` with :class:`ConnectionLimits` and optional TLS."""
    import uvicorn

    limits = limits or ConnectionLimits()
    raise_open_files_limit(max(65536, limits.max_connections * 2))
    return uvicorn.Config(app, host=host, port=port, http=protocol_class(limits), log_level=log_level,
                          access_log=False, lifespan="on", timeout_keep_alive=max(1, int(limits.keep_alive)),
                          backlog=max(2048, min(limits.max_connections, 65535)),
                          ssl_certfile=tls_cert, ssl_keyfile=tls_key)
