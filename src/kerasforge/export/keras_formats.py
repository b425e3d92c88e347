"""Keras' own formats for the inference model: ``model.keras``, legacy ``model.h5``, ``model.weights.h5``.

Example:
    >>> save(inference.model, Path("out"), fmt="keras")         # doctest: +SKIP
    >>> predict = load(Path("out"), rebuild=None, fmt="keras")    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..saving import FILE_NAMES, save_model


def save(model, folder: Path, *, fmt: str, quantize: str | None = None) -> Path:
    """Write ``model`` into ``folder`` as ``fmt`` (keras, h5 or weights); returns the file.

    The trained model inside still holds its optimizer (Adam's moments: twice the weights again); an
    inference export leaves that state out.
    """
    with _without_optimizers(model):
        return save_model(model, folder, [fmt])[fmt]


@contextlib.contextmanager
def _without_optimizers(model) -> Iterator[None]:
    """Detach the optimizers of ``model`` and the models nested in it while saving; put them back after."""
    import keras

    held = [(m, m.optimizer) for m in [model, *getattr(model, "layers", [])]
            if isinstance(m, keras.Model) and getattr(m, "optimizer", None) is not None]
    for m, _ in held:
        m.optimizer = None
    try:
        yield
    finally:
        for m, optimizer in held:
            m.optimizer = optimizer


def load(folder: Path, rebuild: Callable | None, *, fmt: str) -> Callable[[np.ndarray], np.ndarray]:
    """Reload the file with Keras and return its ``predict``.

    ``weights`` need the architecture: ``rebuild()`` makes a fresh inference model whose weights are
    zeroed before the file's are loaded, so a weights file that loads nothing cannot pass.
    """
    import keras

    path = folder / FILE_NAMES[fmt]
    if fmt == "weights":
        model = rebuild()
        for variable in model.weights:
            if "int" in str(variable.dtype) or "float" in str(variable.dtype):
                variable.assign(np.zeros(variable.shape, dtype=str(variable.dtype)))
        with _without_optimizers(model):  # the file holds no optimizer state (see save)
            model.load_weights(path)
    else:  # not compiled: an inference model has no loss, and Keras would warn about that for .h5
        from ..keras_fixes import apply

        apply()
        model = keras.saving.load_model(path, compile=False, safe_mode=True)

    def predict(x: np.ndarray) -> np.ndarray:
        from .outputs import as_columns

        out = model.predict(x, verbose=0, batch_size=256)
        return as_columns(out if isinstance(out, dict | list | tuple) else keras.ops.convert_to_numpy(out))

    return predict


def versions() -> dict[str, str]:
    """The runtime's versions, for the model card."""
    import keras

    return {"keras": keras.__version__, "backend": keras.backend.backend()}
