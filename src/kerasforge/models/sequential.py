"""``keras.Sequential`` from a :class:`~kerasforge.recipe.SequentialModelSpec`.

Example:
    >>> from kerasforge.recipe import SequentialModelSpec
    >>> spec = SequentialModelSpec(layers=["Flatten", {"type": "Dense", "units": 10}])
    >>> build_sequential(spec, (8, 8, 1)).output_shape
    (None, 10)
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..recipe import SequentialModelSpec
from .layers import apply_layer, make_layer


def build_sequential(spec: SequentialModelSpec, input_shape: tuple | dict[str, tuple], *,
                     name: str = "model", where: str = "model", input_dtype: str = "float32") -> Any:
    """``keras.Sequential([keras.Input(shape), *layers])``; ``spec.input_shape`` overrides the data's shape.

    Each layer is applied in turn to a symbolic input first, so a shape mismatch is reported at the
    layer that caused it (``model.layers[3]``) rather than deep inside Keras.
    """
    import keras

    shape = input_shape_for(spec.input_shape, input_shape, where=where)
    inputs = keras.Input(shape=shape, name="input", dtype=input_dtype)
    x = inputs
    layers = []
    for i, layer_spec in enumerate(spec.layers):
        at = f"{where}.layers[{i}]"
        layer = make_layer(layer_spec, where=at)
        x = apply_layer(layer, x, where=at, type_name=layer_spec.type)
        layers.append(layer)
    return keras.Sequential([inputs, *layers], name=spec.name or name)


def input_shape_for(declared: list | None, data_shape: tuple | dict[str, tuple], *, where: str) -> tuple:
    """The one input shape of a single-input model: the recipe's ``input_shape`` or else the data's."""
    if declared is not None:
        return tuple(declared)
    if isinstance(data_shape, dict):
        raise ModelError(
            f"this model takes one input but the data has {len(data_shape)} named views "
            f"({', '.join(data_shape)})",
            where=where,
            fix="Use a functional model (`kind: functional`) with one input per view, named like the views, "
                "or drop `data.views`.",
        )
    return tuple(data_shape)
