"""One exception family for everything a user can fix.

Every error says *what* was wrong, *where* (a YAML path, a file, an HTTP field) and *how to fix it*.
The CLI prints it as one paragraph and exits with code 2; unexpected internal errors keep their
traceback and exit with code 1.

Example:
    >>> raise RecipeError("must be a positive integer, got -3", where="train.epochs",
    ...                   fix="Set it to the number of passes over the training data, e.g. 10.")
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KerasforgeError(Exception):
    """An error the user can fix: what happened, where, and how to fix it."""

    kind = "error"

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what.strip()
        self.where = where
        self.fix = fix.strip() if fix else None
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The whole error as one paragraph (no line breaks)."""
        head = f"{self.where}: " if self.where else ""
        text = head + _sentence(self.what)
        if self.fix:
            text += " " + _sentence(self.fix)
        return " ".join(text.split())


class RecipeError(KerasforgeError):
    """The recipe (YAML or `Recipe` object) is invalid."""

    kind = "recipe error"


class DataError(KerasforgeError):
    """A dataset could not be found, read or fitted to the model."""

    kind = "data error"


class ModelError(KerasforgeError):
    """A model could not be built or loaded from its description."""

    kind = "model error"


class TrainError(KerasforgeError):
    """Training could not start or had to stop."""

    kind = "training error"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """A hint like " Did you mean 'epochs'?" for a misspelt name, or "" when nothing is close.

    >>> did_you_mean("epoch", ["epochs", "batch_size"])
    " Did you mean 'epochs'?"
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    names = " or ".join(repr(lowered[c]) for c in close)
    return f" Did you mean {names}?"
