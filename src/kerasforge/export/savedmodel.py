"""TensorFlow SavedModel export (``saved_model/``), reloaded with ``tf.saved_model.load``.

Keras writes it (``model.export(format="tf_saved_model")``, TensorFlow backend); the ``serve`` endpoint
takes the RAW input and returns the probabilities. Raw strings work here (TextVectorization inside).

Example:
    >>> save(inference.model, Path("out"), fmt="savedmodel")   # doctest: +SKIP
    >>> load(Path("out"), None, fmt="savedmodel")(x).shape      # doctest: +SKIP
    (256, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .tensorflow_backend import on_tensorflow

ARTIFACT = "saved_model"


def save(model, folder: Path, *, fmt: str = "savedmodel", quantize: str | None = None) -> Path:
    """Write ``model`` as a SavedModel into ``folder/saved_model`` (on TensorFlow: see
    :mod:`.tensorflow_backend`); returns that folder."""
    return on_tensorflow(fmt, model, folder, quantize=quantize, save=_save)


def _save(model, folder: Path, *, fmt: str = "savedmodel", quantize: str | None = None) -> Path:
    target = folder / ARTIFACT
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def load(folder: Path, rebuild: Callable | None = None, *, fmt: str = "savedmodel") -> Callable[[np.ndarray], np.ndarray]:
    """Reload ``folder/saved_model`` (or ``folder`` itself: a TF Serving version folder) with TensorFlow;
    returns ``predict(x)`` through its ``serve`` endpoint."""
    import tensorflow as tf

    target = folder / ARTIFACT if (folder / ARTIFACT).is_dir() else folder
    loaded = tf.saved_model.load(str(target))  # kept alive by the closure: it owns the variables

    def predict(x: np.ndarray) -> np.ndarray:
        tensor = tf.constant(x.astype(str).tolist() if x.dtype == object else x)
        out = loaded.serve(tensor)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out)

    return predict


def versions() -> dict[str, str]:
    """TensorFlow's version, for the model card."""
    import tensorflow as tf

    return {"tensorflow": tf.__version__}
