"""Trusting a run folder's code: opening a run for predict/export/serve/report never imports or calls the
``module:Name`` references of its ``recipe.yaml`` unless the user opts in (``--trust-code``, or
``trust_code=True`` in the Python API).

A run folder received from someone else is data; its recipe may name any Python callable
(``model: {ref: 'os:system', kwargs: ...}``). ``model.keras`` itself is loaded in Keras' safe mode and
needs no trust; only rebuilding the model from the recipe, or importing the recipe's modules so that
custom layers can be deserialized, does.

Example:
    >>> with trusting(True):
    ...     code_trusted()
    True
    >>> recipe_references({"model": {"ref": "os:system"}, "train": {"loss": "mse"}})
    ['os:system']
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import KerasforgeError
from .references import is_reference

T = TypeVar("T")
CODE_SECTIONS = ("model", "train", "search")
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("kforge_trust_code", default=False)


def code_trusted() -> bool:
    """True inside :func:`trusting` (``--trust-code``)."""
    return _TRUSTED.get()


@contextlib.contextmanager
def trusting(trust: bool | None = True) -> Iterator[None]:
    """Within the block, run folders' code may be imported (``None`` keeps the surrounding setting)."""
    if trust is None:
        yield
        return
    token = _TRUSTED.set(bool(trust))
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def recipe_references(data: Any) -> list[str]:
    """Every ``module:Name`` string in a recipe (a :class:`~kerasforge.recipe.Recipe` or its raw mapping),
    in order, without repeats."""
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    if isinstance(data, dict):  # only these sections can name code (not name, description, data...)
        data = [data.get(k) for k in CODE_SECTIONS]
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif is_reference(node):
            found[node] = None

    walk(data)
    return list(found)


def refuse_untrusted(recipe: Any, *, where: str, doing: str) -> None:
    """Raise a :class:`KerasforgeError` when ``recipe`` names user code and :func:`code_trusted` is false.

    ``doing`` says what would have run the code (e.g. "rebuilding the model from recipe.yaml").
    """
    refs = recipe_references(recipe)
    if not refs or code_trusted():
        return
    shown = ", ".join(repr(r) for r in refs[:4]) + (f" and {len(refs) - 4} more" if len(refs) > 4 else "")
    raise KerasforgeError(
        f"{doing} would import and call code that its recipe names ({shown}); a run folder never runs code "
        "unless you say so, and nothing was run",
        where=where,
        fix="If you trust where this run folder came from, pass --trust-code (Python: trust_code=True); "
            "otherwise ask its author for a model.keras that loads on its own.",
    )


def import_run_code(run: Any) -> None:
    """With trust, make the modules a run's recipe names importable (its recipe folder, recorded as
    ``code_dir`` in run.json, goes after the installed packages) and import them, so that custom layers
    and models registered with Keras deserialize; without trust, nothing."""
    from .references import add_to_path, load_reference

    refs = recipe_references(run.recipe)
    if not refs or not code_trusted():
        return
    code_dir = (run.info or {}).get("code_dir")
    if code_dir:
        add_to_path(code_dir)
    for i, ref in enumerate(refs):
        load_reference(ref, where=f"{run.path / 'recipe.yaml'} (reference {i + 1}: {ref})")


def trust_option(fn: Callable[..., T]) -> Callable[..., T]:
    """Give ``fn`` a keyword ``trust_code: bool | None = None`` that runs it inside :func:`trusting`.

    >>> @trust_option
    ... def opened(path):
    ...     return code_trusted()
    >>> opened("runs/x", trust_code=True), opened("runs/x")
    (True, False)
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, trust_code: bool | None = None, **kwargs: Any) -> T:
        with trusting(trust_code):
            return fn(*args, **kwargs)

    wrapper.__doc__ = (fn.__doc__ or "") + (
        "\n\n    ``trust_code=True`` lets a run folder's recipe import the code it names (a custom model); "
        "``None`` keeps the surrounding setting (the CLI's ``--trust-code``, else off).\n")
    return wrapper
