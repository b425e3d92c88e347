"""Saving and loading models in Keras' formats: ``.keras``, legacy ``.h5`` and ``.weights.h5``.

Example:
    >>> paths = save_model(model, Path("runs/x"), ["keras", "h5", "weights"])   # doctest: +SKIP
    >>> model = load_model_file(paths["keras"])                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from .errors import KerasforgeError

FILE_NAMES = {"keras": "model.keras", "h5": "model.h5", "weights": "model.weights.h5"}


def save_model(model, folder: Path, formats: list[str]) -> dict[str, Path]:
    """Save ``model`` into ``folder`` in each format; returns format -> file.

    Each file is written under a temporary name and then renamed, so an interrupted save never
    leaves a half-written model behind.
    """
    from .keras_fixes import apply

    apply()  # Keras bugs that would write files it cannot read back
    saved = {}
    for fmt in dict.fromkeys(formats):
        target = folder / FILE_NAMES[fmt]
        tmp = target.with_name("tmp-" + target.name)
        try:
            if fmt == "weights":
                model.save_weights(tmp)
            else:
                with _quiet_absl():  # the user chose legacy .h5: no need to warn that it is legacy
                    model.save(tmp)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise KerasforgeError(f"the model could not be saved as {target.name}: {exc}", where=str(target),
                                  fix="Subclassed models need get_config() for .keras/.h5; "
                                  "'weights' always works.") from exc
        os.replace(tmp, target)
        saved[fmt] = target
    return saved


@contextlib.contextmanager
def _quiet_absl():
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_model_file(path: str | Path, *, safe_mode: bool = True, compile: bool = True):
    """Load a whole model from ``.keras`` or ``.h5`` (Keras' ``safe_mode`` on by default).

    ``compile=False`` for inference only: the training configuration (a loss or metric written in the
    user's own module, say) is then not rebuilt."""
    import keras

    from .keras_fixes import apply

    apply()
    path = Path(path)
    if not path.is_file():
        raise KerasforgeError(f"no model file {path}", where=str(path), fix="Check the path.")
    if path.name.endswith(".weights.h5"):
        raise KerasforgeError(f"{path.name} holds weights only, not the model's architecture", where=str(path),
                              fix="Load the run folder (or model.keras) instead, or build the model and "
                              "call model.load_weights().")
    from .training import sparse_metrics  # noqa: F401  (registers SparseAUC... used in compile configs)

    try:
        if path.suffix == ".h5":
            return keras.saving.load_model(path, compile=compile)
        return keras.saving.load_model(path, safe_mode=safe_mode, compile=compile)
    except Exception as exc:
        raise KerasforgeError(f"the model in {path.name} could not be loaded: {exc}", where=str(path),
                              fix="Models with custom classes need them importable and registered with "
                              "keras.saving.register_keras_serializable().") from exc
