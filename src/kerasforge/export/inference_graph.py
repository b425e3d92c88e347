"""Rewriting a trained Keras model into the graph an exporter should convert.

* :func:`without_training_layers` — augmentation (``RandomFlip``, ``RandomRotation``, ``RandomZoom``,
  ``RandomShear``..., ``GaussianNoise``) is the identity at inference, but its layers still put random
  ops into a traced graph, which ONNX cannot hold ("StatelessRandomUniformV2"). Each such layer is
  replaced by ``Identity`` once a probe confirms that it returns its input unchanged with
  ``training=False`` (a layer that changes its input at inference stays).
* :func:`unrolled_recurrent` — ``LSTM``/``GRU``/``SimpleRNN`` with a fixed number of time steps as
  unrolled layers (same weights): no while loop and no TensorList ops, so TFLite converts them to its
  built-in ops.

Both rebuild Sequential and functional models (nested ones too) around the same layer objects, so the
weights are shared, not copied; a subclassed model is left as it is (its ``call`` decides).

Example:
    >>> model, removed = without_training_layers(trained)   # doctest: +SKIP
    >>> removed                                              # doctest: +SKIP
    ['random_flip (RandomFlip)', 'random_rotation (RandomRotation)']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

TRAINING_ONLY = ("GaussianNoise", "GaussianDropout", "AlphaDropout", "AugMix", "RandAugment", "CutMix", "MixUp",
                 "Solarization")
RECURRENT = ("LSTM", "GRU", "SimpleRNN")


def without_training_layers(model) -> tuple[Any, list[str]]:
    """``model`` with its augmentation layers replaced by ``Identity``; returns it and the layers replaced."""
    import keras

    def replace(layer):
        if not _training_only(layer):
            return None
        return keras.layers.Identity(name=layer.name)

    return replace_layers(model, replace)


def unrolled_recurrent(model) -> tuple[Any, list[str]]:
    """``model`` with each recurrent layer over a fixed number of steps unrolled (weights shared)."""

    def replace(layer):
        if type(layer).__name__ not in RECURRENT or layer.get_config().get("unroll"):
            return None
        steps = _input_shape(layer)
        if steps is None or len(steps) < 2 or steps[1] is None:
            return None  # unrolling needs the number of time steps
        clone = type(layer).from_config({**layer.get_config(), "unroll": True})
        clone.build(steps)
        clone.set_weights(layer.get_weights())
        return clone

    return replace_layers(model, replace)


def replace_layers(model, replace: Callable[[Any], Any]) -> tuple[Any, list[str]]:
    """Rebuild ``model`` with ``replace(layer)`` (a new layer, or ``None`` to keep it) applied to every
    layer, nested Sequential/functional models included; returns the model (``model`` itself when nothing
    changed) and ``name (Class)`` of each replaced layer."""
    import keras

    changed: list[str] = []
    if not _rebuildable(model):
        return model, changed

    def clone(layer):
        if isinstance(layer, keras.Model):
            inner, found = replace_layers(layer, replace)
            changed.extend(found)
            return inner
        new = replace(layer)
        if new is None:
            return layer
        changed.append(f"{layer.name} ({type(layer).__name__})")
        return new

    rebuilt = keras.models.clone_model(model, clone_function=clone)
    if not changed:
        return model, changed
    return rebuilt, changed


def _rebuildable(model) -> bool:
    import keras

    return isinstance(model, keras.Sequential) or type(model).__name__ == "Functional"


def _training_only(layer) -> bool:
    """Augmentation-like (by class) and, probed, the identity with ``training=False``."""
    name = type(layer).__name__
    if not (name.startswith("Random") or name in TRAINING_ONLY):
        return False
    shape = _input_shape(layer)
    if shape is None or any(d is None for d in shape[1:]):
        return False
    probe = np.random.default_rng(0).uniform(0, 255, size=(2, *shape[1:])).astype("float32")
    try:
        out = np.asarray(layer(probe, training=False))
    except Exception:
        return False
    return out.shape == probe.shape and np.allclose(out, probe)


def _input_shape(layer) -> tuple | None:
    try:
        return tuple(layer.input.shape)
    except (AttributeError, ValueError):
        return None
