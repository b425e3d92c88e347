"""User code written for one backend picks that backend: a loss or layer beside the recipe that uses
``tf.*`` ops cannot run under JAX (nor ``jax.numpy`` under TensorFlow), so ``backend: auto`` chooses the
backend the recipe's own modules import, and an explicit other backend is a clear error before training.

The modules are not imported for this: their source is read from the recipe's folder.

Example:
    >>> backend_for_code({"model": {"layers": ["Flatten"]}}) is None
    True
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import RecipeError

_IMPORTS = {
    "tensorflow": re.compile(r"^\s*(import\s+tensorflow\b|from\s+tensorflow\b)", re.M),
    "jax": re.compile(r"^\s*(import\s+jax\b|from\s+jax\b)", re.M),
    "torch": re.compile(r"^\s*(import\s+torch\b|from\s+torch\b)", re.M),
}


def _module_file(module: str, folders: list[Path]) -> Path | None:
    parts = module.split(".")
    for folder in folders:
        for candidate in (folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def backend_for_code(recipe: Any, folders: list[Path] | None = None) -> tuple[str, str, Path] | None:
    """``(backend, reference, file)`` when a module the recipe names (found in ``folders``, default the
    recipe folders added by :func:`kerasforge.references.add_to_path`) imports TensorFlow, JAX or torch."""
    from .references import code_folders
    from .trust import recipe_references

    folders = code_folders() if folders is None else folders
    for ref in recipe_references(recipe):
        path = _module_file(ref.split(":", 1)[0], folders)
        if path is None:
            continue
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for backend, pattern in _IMPORTS.items():
            if pattern.search(source):
                return backend, ref, path
    return None


def _takes_text(recipe: Any) -> bool:
    data = getattr(recipe, "data", None)
    return getattr(data, "dataset", None) == "text_folder"


def requested_backend(recipe: Any) -> str:
    """The backend to ask for: the recipe's, or with ``auto`` the one its own code is written for; a model
    that takes raw text (``text_folder``) asks for TensorFlow whatever ``$KERAS_BACKEND`` says (Keras'
    ``TextVectorization`` runs inside a model on TensorFlow only; on JAX it fails on its first batch).

    An explicit backend that the code cannot run on is a :class:`RecipeError` naming the module.
    """
    needed = backend_for_code(recipe)
    wanted = getattr(recipe, "backend", "auto")
    if needed is None and _takes_text(recipe):  # TextVectorization's TensorFlow ops compile on TensorFlow only
        if wanted not in ("auto", "tensorflow"):
            raise RecipeError(f"this model takes raw text (data.dataset: text_folder), which only the tensorflow "
                              f"backend can run inside a model: TextVectorization is made of TensorFlow string "
                              f"ops that {wanted} cannot compile", where="backend",
                              fix="Set `backend: tensorflow` (or auto), or give the model word ids "
                                  "(`dataset: imdb` with num_words and maxlen) to train on JAX.")
        return "tensorflow"
    if needed is None:
        return wanted
    backend, ref, path = needed
    if wanted in ("auto", backend):
        return backend
    raise RecipeError(f"{ref!r} comes from {path.name}, which imports {backend}; its ops cannot run on the "
                      f"{wanted} backend this recipe asks for", where="backend",
                      fix=f"Set `backend: {backend}` (or auto), or write that code with keras.ops, which "
                          "runs on every backend.")
