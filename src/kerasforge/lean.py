"""Importing only what a run needs: Keras without the libraries it merely offers extras for.

``import keras`` (3.x) imports scikit-learn (for its ``SKLearnClassifier`` wrappers), pandas (to slice
DataFrames given to ``fit``) and matplotlib.pyplot (for ``keras.visualization``) whenever they are
installed — about half of Keras' import time on a CPU, and none of it used by a kerasforge run, which
hands Keras NumPy arrays and draws its own plots later (importing matplotlib itself then). Keras
imports each of them inside ``try: ... except ImportError`` and works on without it, so
:func:`keras_without_extras` makes them look absent *while Keras is imported* (they import normally
afterwards). Set ``KFORGE_LEAN_IMPORTS=0`` to import Keras with everything (e.g. to use
``keras.wrappers.SKLearnClassifier`` in your own code inside a kforge process).

On the JAX and PyTorch backends Keras also imports TensorFlow when it is installed — to seed it in
``keras.utils.set_random_seed`` and to recognise TensorFlow objects when saving — which costs seconds
and is useless when nothing has imported TensorFlow: :func:`tensorflow_left_out` says "not installed"
to Keras for the duration of such a call.

Example:
    >>> with keras_without_extras():        # doctest: +SKIP
    ...     import keras
    >>> "sklearn" in sys.modules              # doctest: +SKIP
    False
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
from collections.abc import Iterator

KERAS_EXTRAS = ("sklearn", "pandas", "matplotlib")


def lean_enabled() -> bool:
    """False when ``KFORGE_LEAN_IMPORTS`` is ``0``/``off``/``false``/``no``."""
    return os.environ.get("KFORGE_LEAN_IMPORTS", "1").strip().lower() not in ("0", "off", "false", "no")


class _Absent(importlib.abc.MetaPathFinder):
    """A meta-path finder that makes top-level packages ``names`` (and their sub-modules) unimportable."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is left out while Keras is imported (kerasforge.lean)",
                                      name=fullname)
        return None


@contextlib.contextmanager
def keras_without_extras(names: tuple[str, ...] = KERAS_EXTRAS) -> Iterator[None]:
    """While inside, the packages ``names`` that are not imported yet cannot be imported.

    >>> with keras_without_extras(("sqlite3",)):
    ...     try:
    ...         import sqlite3
    ...     except ImportError:
    ...         print("left out")
    left out
    """
    left_out = tuple(n for n in names if n not in sys.modules) if lean_enabled() else ()
    if not left_out:
        yield
        return
    finder = _Absent(left_out)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


@contextlib.contextmanager
def tensorflow_left_out() -> Iterator[None]:
    """While inside, Keras (on a backend other than TensorFlow) sees TensorFlow as not installed — unless
    something imported TensorFlow already, in which case nothing changes.

    Safe because Keras uses ``tf.available`` there only to seed TensorFlow or to test whether an object
    is a TensorFlow one, and no object can be one while TensorFlow is not imported.
    """
    lazy = None
    if lean_enabled() and "tensorflow" not in sys.modules:
        with contextlib.suppress(Exception):
            import keras
            from keras.src.utils import module_utils

            if keras.backend.backend() != "tensorflow" and getattr(module_utils.tensorflow, "_available", 0) is None:
                lazy = module_utils.tensorflow
    if lazy is None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        if lazy._available is False and getattr(lazy, "module", None) is None:
            lazy._available = None  # asked again later, Keras imports it for real
