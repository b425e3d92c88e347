"""Serving trained runs and exports over HTTP: a TF-Serving-compatible REST API, a web page, metrics.

Example:
    >>> from kerasforge.serve import ModelRegistry, create_app          # doctest: +SKIP
    >>> registry = ModelRegistry.from_paths(["runs/fashion_mnist_cnn-20261123-101500"])  # doctest: +SKIP
    >>> app = create_app(registry, token="s3cret")                       # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

Submodules import FastAPI, Keras and ONNX Runtime only when used, so ``kforge --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["ModelRegistry", "ServedModel", "create_app", "ServeError"]


def __getattr__(name: str):
    if name in ("ModelRegistry", "ServedModel"):
        from . import registry

        return getattr(registry, name)
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServeError":
        from .errors import ServeError

        return ServeError
    raise AttributeError(f"module 'kerasforge.serve' has no attribute {name!r}")
