"""Which versions of a base path to serve: TF Serving's ``model_version_policy`` (latest N, specific, all).

Example:
    >>> VersionPolicy.parse("latest:2").keep({1: "a", 2: "b", 3: "c"})
    [2, 3]
    >>> VersionPolicy.parse("specific:1,3").keep({1: "a", 2: "b", 3: "c"})
    [1, 3]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import KerasforgeError


@dataclass(frozen=True)
class VersionPolicy:
    """``all`` (default), ``latest`` N versions, or ``specific`` versions."""

    kind: str = "all"
    latest: int = 1
    specific: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """``all``, ``latest`` / ``latest:N``, or ``specific:V1,V2``; a clear error otherwise."""
        kind, _, value = (text or "all").strip().lower().partition(":")
        try:
            if kind == "all" and not value:
                return cls("all")
            if kind == "latest":
                n = int(value or 1)
                if n >= 1:
                    return cls("latest", latest=n)
            if kind == "specific":
                versions = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
                if versions:
                    return cls("specific", specific=versions)
        except ValueError:
            pass
        raise KerasforgeError(f"unknown version policy {text!r}", where="--version-policy",
                              fix="Use all, latest, latest:N or specific:1,3 (as TF Serving's model_version_policy).")

    def keep(self, versions: Iterable[int]) -> list[int]:
        """The versions to serve among ``versions``, oldest first."""
        ordered = sorted(versions)
        if self.kind == "latest":
            return ordered[-self.latest:]
        if self.kind == "specific":
            return [v for v in ordered if v in self.specific]
        return ordered
