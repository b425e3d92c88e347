"""Exports of multi-output models: every named output kept, and compared as one table of columns.

The inference model of a multi-output run ends in one ``Identity`` per output, named as the model names
it (``digit``, ``parity``...), so a Keras export predicts a dict of named outputs, as the trained model
does. Verification compares all outputs at once: :func:`as_columns` lays them side by side in the
model's output order. Keras formats (``keras``, ``h5``, ``weights``) carry every output; the converted
formats' loaders and kforge's engines for them read one output tensor, so they are refused by name.

Example:
    >>> import numpy as np
    >>> as_columns({"digit": np.zeros((2, 10)), "parity": np.ones((2, 1))}).shape
    (2, 11)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ExportError

MULTI_OUTPUT_FORMATS = ("keras", "h5", "weights")


def as_columns(predictions: Any) -> np.ndarray:
    """Every output of ``model.predict`` side by side, ``(N, total units)`` (one output: as it is).

    >>> as_columns([np.zeros((3, 2)), np.ones((3,))]).shape
    (3, 3)
    """
    if isinstance(predictions, dict):
        predictions = list(predictions.values())
    if isinstance(predictions, list | tuple):
        parts = [np.asarray(p).reshape(len(p), -1) for p in predictions]
        return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0))
    return np.asarray(predictions)


def named_heads(x: Any, names: list[str], data_info: dict, logits: list[str] | None = None,
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(outputs, card entry)``: each output of the trained model as an ``Identity`` named after it (after
    a softmax/sigmoid for the ``logits`` outputs, whose loss has ``from_logits: true``), and the card's
    ``output`` entry describing every output (shape, task and meaning)."""
    import keras

    from .inference_model import _output

    tensors = dict(x) if isinstance(x, dict) else dict(zip(names, x, strict=False))
    about = data_info.get("outputs") or {}
    outputs, described = {}, {}
    for name, tensor in tensors.items():
        units = int(tensor.shape[-1]) if len(tensor.shape) > 1 and tensor.shape[-1] is not None else 1
        if name in (logits or []):
            tensor = keras.layers.Activation("sigmoid" if units == 1 else "softmax", name=f"{name}_logits_to_"
                                             f"{'sigmoid' if units == 1 else 'softmax'}")(tensor)
        outputs[name] = keras.layers.Identity(name=name)(tensor)
        info = about.get(name) or {}
        described[name] = {**_output(info.get("task") or data_info.get("task") or "multiclass", units,
                                     info.get("class_names") or data_info.get("class_names") or []), "name": name}
    card = {"name": "outputs", "outputs": described,
            "meaning": "a dict of named outputs: " + ", ".join(described)}
    return outputs, card


def check_format(fmt: str, model: Any, where: str) -> None:
    """An ExportError naming the format when a multi-output ``model`` cannot be exported to it."""
    if len(getattr(model, "outputs", None) or []) > 1 and fmt not in MULTI_OUTPUT_FORMATS:
        raise ExportError(f"this model has several outputs and the {fmt} export of kforge carries one output "
                          "tensor", where=where,
                          fix=f"Export it as {', '.join(MULTI_OUTPUT_FORMATS)} (every named output is kept).")
