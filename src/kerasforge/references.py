"""Reaching user code from a recipe: ``"package.module:Name"`` → the Python object.

Recipes name the user's own models, layers, callbacks and schedules as ``module:Name``. The module is
imported the ordinary way, so it must be importable: installed, on ``PYTHONPATH``, or in the recipe's
folder, which kerasforge adds to the *end* of ``sys.path`` (:func:`add_to_path`) before it builds
anything. The standard library and installed packages always come first: a ``json.py`` beside a
recipe is never imported in place of :mod:`json`, and a recipe that names such a shadowed module is
refused with the file to rename.

Example:
    >>> from kerasforge.references import load_reference
    >>> load_reference("os.path:join", where="model.ref")("a", "b")
    'a/b'
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

from .errors import KerasforgeError, did_you_mean

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def is_reference(text: Any) -> bool:
    """True when ``text`` looks like ``package.module:Name``.

    >>> is_reference("my_layers:Residual"), is_reference("Dense")
    (True, False)
    """
    return isinstance(text, str) and _REFERENCE.fullmatch(text) is not None


_CODE_FOLDERS: list[Path] = []  # folders of recipes whose modules may be imported (after site-packages)


def add_to_path(folder: str | Path) -> Path:
    """Put ``folder`` at the *end* of ``sys.path`` (once), so modules beside a recipe can be imported
    without ever replacing a standard-library or installed module of the same name.

    >>> import sys
    >>> folder = add_to_path(".")
    >>> sys.path.index(str(folder)) > sys.path.index(next(p for p in sys.path if "site-packages" in p))
    True
    """
    path = Path(folder).expanduser().resolve()
    text = str(path)
    if path not in _CODE_FOLDERS:
        _CODE_FOLDERS.append(path)
    if text not in sys.path:
        sys.path.append(text)
        importlib.invalidate_caches()
    return path


def code_folders() -> list[Path]:
    """The recipe folders added by :func:`add_to_path`, oldest first."""
    return list(_CODE_FOLDERS)


def _shadowed(module_name: str) -> tuple[Path, str] | None:
    """``(file beside a recipe, what wins instead)`` when a recipe folder holds a module of this top-level
    name that the standard library or an installed package provides too; None otherwise."""
    import importlib.machinery

    top = module_name.split(".", 1)[0]
    local = next((f for folder in _CODE_FOLDERS for f in (folder / f"{top}.py", folder / top / "__init__.py")
                  if f.is_file()), None)
    if local is None:
        return None
    if top in sys.builtin_module_names:
        return local, "a built-in module of Python"
    loaded = sys.modules.get(top)
    origin = getattr(getattr(loaded, "__spec__", None), "origin", None) if loaded is not None else None
    if origin is None:
        others = [p for p in sys.path if p and Path(p).resolve() not in _CODE_FOLDERS]
        spec = importlib.machinery.PathFinder.find_spec(top, others)
        origin = spec.origin if spec is not None else None
    if origin is None or Path(origin).resolve() == local.resolve():
        return None
    kind = "the standard library" if top in getattr(sys, "stdlib_module_names", ()) else "an installed package"
    return local, f"{kind} ({origin})"


def load_reference(ref: str, *, where: str, error: type[KerasforgeError] = KerasforgeError) -> Any:
    """Import the module of ``"package.module:Name"`` and return ``Name`` from it.

    ``Name`` may be dotted (``module:Class.attribute``). Every failure is raised as ``error`` (a
    :class:`~kerasforge.errors.KerasforgeError` subclass) naming ``where`` and saying how to fix it;
    an exception raised *inside* the user's module while it is imported is reported with its own text.

    >>> load_reference("collections:OrderedDict", where="train.callbacks[0].type").__name__
    'OrderedDict'
    """
    if not is_reference(ref):
        raise error(
            f"{ref!r} is not a Python reference",
            where=where,
            fix="Write it as 'package.module:Name', e.g. 'my_models:build_model' for a function "
                "build_model in my_models.py next to the recipe.",
        )
    module_name, _, attribute = ref.partition(":")
    module = _import(module_name, ref, where, error)
    obj: Any = module
    walked: list[str] = []
    for part in attribute.split("."):
        if not hasattr(obj, part):
            owner = module_name + "".join(f".{w}" for w in walked)
            raise error(
                f"{owner!r} has no attribute {part!r} (from {ref!r}).{did_you_mean(part, _public_names(obj))}",
                where=where,
                fix=f"Check the spelling; names defined there: {_listing(_public_names(obj))}.",
            )
        obj = getattr(obj, part)
        walked.append(part)
    return obj


def _import(module_name: str, ref: str, where: str, error: type[KerasforgeError]) -> Any:
    shadow = _shadowed(module_name)
    if shadow is not None:
        local, winner = shadow
        top = module_name.split(".", 1)[0]
        raise error(
            f"{ref!r} names module {top!r}, which {local} beside the recipe shares with {winner}; kerasforge "
            "never lets a file beside a recipe replace such a module",
            where=where,
            fix=f"Rename {local.name} to a name of its own (e.g. my_{local.stem if local.name != '__init__.py' else top}"
                f"{'.py' if local.name != '__init__.py' else ''}) and the reference with it.",
        )
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise error(
                f"cannot import module {module_name!r} (from {ref!r}): no module named {missing!r}",
                where=where,
                fix=f"Put {module_name.replace('.', '/')}.py next to the recipe (kerasforge adds the "
                    "recipe's folder to sys.path, after the installed packages), or install it / add its "
                    f"folder to PYTHONPATH. Recipe folders searched: {_listing([str(f) for f in _CODE_FOLDERS])}.",
            ) from None
        raise error(
            f"module {module_name!r} (from {ref!r}) was found but imports {missing!r}, which is not installed",
            where=where,
            fix=f"Install the package that provides {missing!r} (pip install ...), or remove that import.",
        ) from None
    except Exception as exc:
        raise error(
            f"importing module {module_name!r} (from {ref!r}) failed: {type(exc).__name__}: {exc}",
            where=where,
            fix="Fix the error in that module; run `python -c \"import "
                f"{module_name}\"` to see the full traceback.",
        ) from exc


def _public_names(obj: Any) -> list[str]:
    names = getattr(obj, "__all__", None) or [n for n in dir(obj) if not n.startswith("_")]
    return sorted(str(n) for n in names)


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return (shown + f" (and {len(names) - limit} more)") if len(names) > limit else (shown or "none")
