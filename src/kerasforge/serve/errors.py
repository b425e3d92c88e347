"""HTTP errors the client can fix, answered as TF Serving answers them: ``{"error": "<message>"}``.

The message says what was wrong, where and how to fix it; kforge's short error code travels beside it
in the ``X-Kforge-Error`` header, so the body stays exactly TF Serving's (clients read ``body["error"]``
as a string).

Example:
    >>> err = ServeError(400, "bad_shape", "each instance must be shaped [28, 28, 1]", where="instances[3]")
    >>> err.body()
    {'error': 'instances[3]: each instance must be shaped [28, 28, 1].'}
"""

from __future__ import annotations

from typing import Any

from ..errors import KerasforgeError

CODE_HEADER = b"x-kforge-error"


class ServeError(KerasforgeError):
    """A request the client can fix; answered as ``{"error": message}`` with a 4xx status."""

    kind = "serve error"

    def __init__(self, status: int, code: str, what: str, *, where: str | None = None,
                 fix: str | None = None) -> None:
        super().__init__(what, where=where, fix=fix)
        self.status = status
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return error_body(self.code, self.message)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers naming kforge's error code."""
        return [(CODE_HEADER, self.code.encode("latin-1"))]


def error_body(code: str, message: str) -> dict[str, Any]:
    """``{"error": message}`` (TF Serving's error body; ``code`` goes into the ``X-Kforge-Error`` header).

    >>> error_body("not_found", "no route /x")
    {'error': 'no route /x'}
    """
    return {"error": message}
