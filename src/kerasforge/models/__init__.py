"""Models from recipes: Sequential, functional or Python (``module:Name``), plus checks against the data.

Example:
    >>> from kerasforge.models import build_model, check_outputs
    >>> from kerasforge.recipe import SequentialModelSpec
    >>> spec = SequentialModelSpec(layers=["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}])
    >>> model = build_model(spec, input_shape=(8, 8, 1), num_classes=10)
    >>> model.output_shape
    (None, 10)
    >>> check_outputs(model, 10, "multiclass")
"""

from __future__ import annotations

from typing import Any

from ..recipe import FunctionalModelSpec, PythonModelSpec, SequentialModelSpec
from .checks import check_model_spec, check_outputs, output_shapes
from .functional import build_functional
from .layers import convert_kwarg, keras_layer_names, make_layer, resolve_layer_class
from .python_ref import build_python
from .sequential import build_sequential

__all__ = [
    "build_model", "check_model_spec", "check_outputs", "convert_kwarg", "count_params", "keras_layer_names",
    "make_layer", "output_shapes", "resolve_layer_class",
]


def build_model(spec: SequentialModelSpec | FunctionalModelSpec | PythonModelSpec,
                input_shape: tuple | dict[str, tuple], num_classes: int, *, name: str = "model",
                where: str = "model", input_dtype: str = "float32") -> Any:
    """A built ``keras.Model`` for ``spec``, shaped for the data.

    ``input_shape`` is the shape of one prepared example (a dict of shapes for several named views);
    ``spec.input_shape``, when given, overrides it for sequential and Python models. ``num_classes`` is
    passed to Python models that ask for it. ``input_dtype`` is the inputs' dtype unless the recipe
    declares one ("string" for raw text, "int32" for word ids). User-fixable problems raise
    :class:`~kerasforge.errors.ModelError` naming the YAML path (``model.layers[3].unitz``).

    >>> from kerasforge.recipe import FunctionalModelSpec
    >>> spec = FunctionalModelSpec(inputs={"a": [32], "b": [64]}, layers=[
    ...     {"type": "Concatenate", "inputs": ["a", "b"]}, {"type": "Dense", "units": 1}])
    >>> build_model(spec, {"a": (32,), "b": (64,)}, num_classes=2).output_shape
    (None, 1)
    """
    from .size import check_model_size

    check_model_size(spec, input_shape, where=where)  # before any weight is allocated
    if isinstance(spec, SequentialModelSpec):
        return build_sequential(spec, input_shape, name=name, where=where, input_dtype=input_dtype)
    if isinstance(spec, FunctionalModelSpec):
        return build_functional(spec, input_shape, name=name, where=where, input_dtype=input_dtype)
    if isinstance(spec, PythonModelSpec):
        return build_python(spec, input_shape, num_classes, name=name, where=where)
    raise TypeError(f"expected a model spec from kerasforge.recipe, got {type(spec).__name__}")


def count_params(model: Any) -> dict[str, int]:
    """Trainable and non-trainable parameter counts of a built model.

    >>> import keras
    >>> count_params(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]))
    {'trainable': 15, 'non_trainable': 0, 'total': 15}
    """
    import numpy as np

    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    frozen = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}
