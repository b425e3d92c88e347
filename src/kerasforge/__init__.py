"""kerasforge: one recipe from data to a trained, evaluated, saved Keras model.

Example:
    >>> import kerasforge
    >>> run = kerasforge.train("fashion_mnist_cnn")      # doctest: +SKIP
    >>> run.metrics["test_accuracy"], run.path           # doctest: +SKIP
    (0.9132, PosixPath('runs/fashion_mnist_cnn-20261123-101500'))
    >>> same = kerasforge.load_run(run.path)             # doctest: +SKIP

Keras is imported lazily, after the backend has been chosen (see :mod:`kerasforge.backend`).
"""

from __future__ import annotations

__version__ = "0.1.0"

import sys  # noqa: E402
import types  # noqa: E402

from .errors import KerasforgeError  # noqa: E402

__all__ = ["__version__", "KerasforgeError", "Recipe", "load_recipe", "train", "load_run", "Run", "predict"]


def __getattr__(name: str):
    if name in ("Recipe", "load_recipe"):  # lazily: pydantic's models cost `kforge --help` 0.2 s
        from . import recipe

        return getattr(recipe, name)
    if name == "train":
        from .pipeline import train

        return train
    if name in ("load_run", "Run"):
        from . import runs

        return getattr(runs, name)
    if name == "predict":
        from .predict import predict

        return predict
    raise AttributeError(f"module 'kerasforge' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``kerasforge.predict`` is the function, also once the submodule of the same name is imported (the
    import system would otherwise bind the package attribute to the module; the module stays importable as
    ``from kerasforge.predict import ...``)."""

    def __setattr__(self, name: str, value) -> None:
        if name == "predict" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
