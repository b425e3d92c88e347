"""Models written in Python: ``model: {ref: my_models:SmallClassifier, kwargs: {hidden: 64}}``.

``ref`` names a ``keras.Model`` subclass or a function returning a ``keras.Model``. It is called with
``kwargs`` plus ``input_shape`` and ``num_classes`` when its signature names them (and ``kwargs`` does
not already). The result is then called once on a batch of zeros, so ``summary()`` works and its
output shapes can be checked against the data.

Example:
    >>> from kerasforge.recipe import PythonModelSpec
    >>> model = build_python(PythonModelSpec(ref="user_models:build_mlp"), (64,), 10)   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from ..errors import ModelError, did_you_mean
from ..recipe import PythonModelSpec
from ..references import load_reference
from .layers import first_line

# Output shapes of models that have no symbolic outputs (subclassed models), seen when they were built.
OUTPUT_SHAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def load_model_factory(spec: PythonModelSpec, *, where: str = "model") -> Any:
    """The class or function ``spec.ref`` points at (checked to be a Model subclass or a callable)."""
    import keras

    obj = load_reference(spec.ref, where=f"{where}.ref", error=ModelError)
    if inspect.isclass(obj) and not issubclass(obj, keras.Model):
        raise ModelError(
            f"{spec.ref!r} is the class {obj.__name__}, which is not a keras.Model subclass",
            where=f"{where}.ref",
            fix="Point `ref` at a keras.Model subclass or at a function that returns a keras.Model "
                "(layers go in `model.layers` as {type: module:Name}).",
        )
    if not callable(obj):
        raise ModelError(f"{spec.ref!r} is a {type(obj).__name__}, not a model class or a function",
                         where=f"{where}.ref",
                         fix="Point `ref` at a keras.Model subclass or a function that returns one.")
    return obj


def build_python(spec: PythonModelSpec, input_shape: tuple | dict[str, tuple], num_classes: int, *,
                 name: str = "model", where: str = "model") -> Any:
    """Call the user's class or builder, check it returned a model, and build it on a zero batch."""
    import keras

    factory = load_model_factory(spec, where=where)
    shape = tuple(spec.input_shape) if spec.input_shape is not None else input_shape
    kwargs = _arguments(factory, spec, shape, num_classes, where)
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        params = _parameters(factory)
        text = first_line(exc)
        bad = next((k for k in spec.kwargs if f"'{k}'" in text), None)
        raise ModelError(
            f"{spec.ref} could not be called with {sorted(kwargs)}: {text}"
            + (did_you_mean(bad, params) if bad else ""),
            where=f"{where}.kwargs.{bad}" if bad else f"{where}.kwargs",
            fix=f"Its parameters: {', '.join(params) or 'none'}; set the ones it needs under `model.kwargs`.",
        ) from exc
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"{spec.ref} returned {_describe(model)}, not a keras.Model",
            where=f"{where}.ref",
            fix="Make the function `return keras.Model(inputs, outputs)` (or a keras.Sequential).",
        )
    _build(model, shape, spec.ref, where)
    return model


def _arguments(factory: Any, spec: PythonModelSpec, shape: Any, num_classes: int, where: str) -> dict[str, Any]:
    kwargs = dict(spec.kwargs)
    params = _parameters(factory)
    if inspect.isclass(factory):
        params += [p for p in ("name", "dtype", "trainable") if p not in params]
    accepts_any = _has_var_keyword(factory)
    for key in kwargs:
        if key not in params and not accepts_any:
            raise ModelError(
                f"{spec.ref} has no parameter {key!r}.{did_you_mean(key, params)}",
                where=f"{where}.kwargs.{key}",
                fix=f"Its parameters: {', '.join(params) or 'none'}.",
            )
    if "num_classes" in params and "num_classes" not in kwargs:
        kwargs["num_classes"] = num_classes
    if "input_shape" in params and "input_shape" not in kwargs:
        kwargs["input_shape"] = shape
    return kwargs


def _build(model: Any, shape: Any, ref: str, where: str) -> None:
    import keras
    import numpy as np

    batch = _zeros(model, shape, np)
    try:
        outputs = model(batch, training=False)
    except Exception as exc:  # the user's call() can fail in any way; say where and with what
        text = first_line(exc)
        shown = {k: v.shape for k, v in batch.items()} if isinstance(batch, dict) else batch.shape
        raise ModelError(
            f"the model from {ref} fails on a batch shaped like the data {shown}: {type(exc).__name__}: {text}",
            where=f"{where}.ref",
            fix="Make the model accept examples of that shape (check `input_shape`), or set "
                "`model.input_shape` if the data is reshaped for it.",
        ) from exc
    if not getattr(model, "outputs", None):
        flat = keras.tree.flatten(outputs)
        OUTPUT_SHAPES[model] = [(None, *tuple(o.shape)[1:]) for o in flat]


def _zeros(model: Any, shape: Any, np: Any) -> Any:
    declared = getattr(model, "inputs", None)
    dtypes: dict[str, str] = {}
    if declared:
        for tensor in declared:
            dtypes[getattr(tensor, "name", "")] = getattr(tensor, "dtype", "float32")
    if isinstance(shape, dict):
        return {k: np.zeros((2, *(d or 1 for d in s)), dtype=_np_dtype(dtypes.get(k))) for k, s in shape.items()}
    dtype = _np_dtype(next(iter(dtypes.values()))) if len(dtypes) == 1 else "float32"
    return np.zeros((2, *(d or 1 for d in shape)), dtype=dtype)


def _np_dtype(dtype: Any) -> str:
    text = str(dtype or "float32")
    return "int32" if "int" in text else "float32"


def _parameters(factory: Any) -> list[str]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]


def _has_var_keyword(factory: Any) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    if inspect.isclass(factory):
        # keras.Model.__init__(*args, **kwargs) accepts anything, yet passes it on to Layer, which refuses
        # unknown names: only the class's own named parameters (and Keras' name/dtype/trainable) are safe.
        own = factory.__dict__.get("__init__")
        return own is None
    return any(p.kind is p.VAR_KEYWORD for p in params)


def _describe(obj: Any) -> str:
    if obj is None:
        return "None (is a `return` missing?)"
    return f"a {type(obj).__module__}.{type(obj).__name__}"
