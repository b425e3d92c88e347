"""Fitting features to a model's input shape, with errors that say what to change in the recipe.

Example:
    >>> import numpy as np
    >>> fit_features(np.zeros((2, 28, 28, 1)), (784,), where="model.input_shape").shape
    (2, 784)
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .dataset import Features

_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def _matches(data: tuple, model: tuple) -> bool:
    return len(data) == len(model) and all(m is None or m == d for d, m in zip(data, model, strict=True))


def _reshaped(data: tuple, model: tuple) -> tuple | None:
    """A shape of the same number of values that matches ``model``, if there is one."""
    if None not in model and int(np.prod(data)) == int(np.prod(model)):
        return tuple(model)
    for candidate in (data + (1,), data[:-1] if data and data[-1] == 1 else None,
                      (int(np.prod(data)),)):
        if candidate is not None and _matches(candidate, model):
            return tuple(d if m is None else m for d, m in zip(candidate, model, strict=True))
    return None


def _fit_one(x: np.ndarray, model_shape: tuple, where: str) -> np.ndarray:
    data = tuple(x.shape[1:])
    model = tuple(None if m is None else int(m) for m in model_shape)
    if _matches(data, model):
        return x
    target = _reshaped(data, model)
    if target is not None:
        return x.reshape((len(x), *target))
    n_data = int(np.prod(data))
    msg = f"the data gives examples of shape {data} ({n_data} values) but the model expects {model}"
    if len(data) == 3 and len(model) == 3:
        (h, w, c), (mh, mw, mc) = data, model
        if mc is not None and mc != c and _matches((h, w), (mh, mw)):
            mode = _MODES.get(mc)
            fix = (f"Set `data.color_mode: {mode}` to give the model {mc}-channel images"
                   if mode else f"Change the model's input to {c} channels")
            raise DataError(f"{msg}: {c} colour channel(s) where the model takes {mc}", where=where,
                            fix=f"{fix}, or change the model's input shape to ({mh}, {mw}, {c}).")
        hint = f"[{mh}, {mw}]" if mh and mw else "[H, W]"
        raise DataError(f"{msg}: the images are {h}x{w}", where=where,
                        fix=f"Set `data.image_size: {hint}` to resize the images, or change `model.input_shape` "
                            f"to [{h}, {w}, {c}].")
    if len(data) == 3 and len(model) == 1 and model[0] is not None and model[0] % (data[0] * data[1]) == 0:
        mc = model[0] // (data[0] * data[1])
        if mc in _MODES:
            raise DataError(f"{msg}: {data[2]} colour channel(s) where the model's {model[0]} inputs fit {mc}",
                            where=where, fix=f"Set `data.color_mode: {_MODES[mc]}`, or change `model.input_shape` "
                                             f"to [{n_data}].")
    raise DataError(msg, where=where,
                    fix=f"Change `model.input_shape` to {list(data)} (or any shape of {n_data} values), "
                        "or leave it out to take the data's shape.")


def fit_features(x: Features, model_input_shape: tuple | dict[str, tuple], *, where: str) -> Features:
    """``x`` reshaped to fit ``model_input_shape`` (one example's shape; ``None`` matches any size).

    Same number of values → reshape (flatten (28, 28, 1) → (784,), add a channel (28, 28) → (28, 28, 1)).
    A channel or size mismatch raises a :class:`DataError` that names ``data.color_mode`` or
    ``data.image_size``. Dict features take a dict of shapes (one per named input).

    >>> fit_features({"a": np.zeros((3, 4))}, {"a": (4, 1)}, where="model.inputs")["a"].shape
    (3, 4, 1)
    """
    if isinstance(model_input_shape, dict):
        if not isinstance(x, dict):
            if len(model_input_shape) == 1:
                name, shape = next(iter(model_input_shape.items()))
                return {name: _fit_one(x, tuple(shape), f"{where}.{name}")}
            raise DataError(f"the model has {len(model_input_shape)} inputs ({', '.join(model_input_shape)}) "
                            "but the data is a single array", where=where,
                            fix="Add `data.views` with one entry per model input.")
        missing = [k for k in model_input_shape if k not in x]
        if missing:
            raise DataError(f"the model's input(s) {', '.join(missing)} have no data; the data's views are "
                            f"{', '.join(x)}", where=where,
                            fix="Name the model's inputs like the views in `data.views`.")
        return {k: _fit_one(x[k], tuple(s), f"{where}.{k}") for k, s in model_input_shape.items()}
    if isinstance(x, dict):
        if len(x) == 1:
            return _fit_one(next(iter(x.values())), tuple(model_input_shape), where)
        raise DataError(f"the data has {len(x)} views ({', '.join(x)}) but the model has a single input",
                        where=where, fix="Use a functional model with one input per view, or remove `data.views`.")
    return _fit_one(x, tuple(model_input_shape), where)
