"""HTTP errors the client can fix: a status, a short code and a message saying what was expected.

Example:
    >>> err = ServeError(400, "bad_shape", "each instance must be shaped [28, 28, 1]", where="instances[3]")
    >>> err.body()["error"]["code"]
    'bad_shape'
"""

from __future__ import annotations

from typing import Any

from ..errors import KerasforgeError


class ServeError(KerasforgeError):
    """A request the client can fix; answered as ``{"error": {"code", "message"}}`` with a 4xx status."""

    kind = "serve error"

    def __init__(self, status: int, code: str, what: str, *, where: str | None = None,
                 fix: str | None = None) -> None:
        super().__init__(what, where=where, fix=fix)
        self.status = status
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    """``{"error": {"code": code, "message": message}}``.

    >>> error_body("not_found", "no route /x")
    {'error': {'code': 'not_found', 'message': 'no route /x'}}
    """
    return {"error": {"code": code, "message": message}}
