"""Checks that catch model mistakes before the first training step, with the fix spelled out.

* :func:`check_model_spec` — every layer name resolves and every layer can be made with its kwargs
  (no data needed: this is what ``kforge check`` runs).
* :func:`check_outputs` — the model's outputs fit the labels: one unit per class, 1 (or 2) for binary,
  1 for regression, and flat (no image-shaped output from a Dense on images without a Flatten).

Example:
    >>> from kerasforge.recipe import SequentialModelSpec
    >>> check_model_spec(SequentialModelSpec(layers=["Flatten", {"type": "Dense", "units": 10}]))
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..recipe import FunctionalModelSpec, PythonModelSpec, SequentialModelSpec
from .functional import references
from .layers import make_layer
from .python_ref import OUTPUT_SHAPES, load_model_factory

TASKS = ("multiclass", "binary", "regression")


def check_model_spec(spec: SequentialModelSpec | FunctionalModelSpec | PythonModelSpec, *,
                     where: str = "model") -> None:
    """Resolve every layer and construct it with its kwargs, without data; raise the first ModelError.

    For a functional model the ``inputs``/``outputs`` names are checked too; for a Python model, that
    ``ref`` imports and is a ``keras.Model`` subclass or a function.

    >>> from kerasforge.recipe import SequentialModelSpec
    >>> check_model_spec(SequentialModelSpec(layers=[{"type": "Dense", "unitz": 3}]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kerasforge.errors.ModelError: model.layers[0].unitz: Dense has no argument 'unitz'. Did you mean 'units'? ...
    """
    if isinstance(spec, PythonModelSpec):
        load_model_factory(spec, where=where)
        return
    for i, layer_spec in enumerate(spec.layers):
        make_layer(layer_spec, where=f"{where}.layers[{i}]")
    if isinstance(spec, FunctionalModelSpec):
        references(spec, where=where)


def output_shapes(model: Any) -> dict[str, tuple]:
    """Output name → shape (batch dimension ``None``) of a built model.

    >>> import keras
    >>> output_shapes(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")]))
    {'head': (None, 3)}
    """
    outputs = getattr(model, "outputs", None)
    if outputs:
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(outputs):
            names = [_producer(t) or f"output_{i}" for i, t in enumerate(outputs)]
        return {n: tuple(t.shape) for n, t in zip(names, outputs, strict=True)}
    if model in OUTPUT_SHAPES:
        shapes = OUTPUT_SHAPES[model]
        return {("output" if len(shapes) == 1 else f"output_{i}"): s for i, s in enumerate(shapes)}
    raise ModelError(f"the model {model.name!r} has not been built, so its outputs are unknown", where="model",
                     fix="Build it with kerasforge.models.build_model (or call it once on a batch) first.")


def check_outputs(model: Any, num_classes: int | dict[str, int], task: str | dict[str, str], *,
                  where: str = "model") -> None:
    """Raise a ModelError when an output of ``model`` cannot fit the labels of a ``task`` dataset.

    ``task`` is ``multiclass``, ``binary`` or ``regression`` (labels are one value per example).
    For a multi-output model every output is checked; pass dicts keyed by output name to give outputs
    different tasks or class counts (outputs missing from a dict are not checked).

    >>> import keras
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(5)])
    >>> check_outputs(model, 10, "multiclass")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kerasforge.errors.ModelError: model.layers[-1]: the last layer has 5 units but the data has 10 classes. Set units: 10 ...
    """
    shapes = output_shapes(model)
    several = len(shapes) > 1
    for index, (out_name, shape) in enumerate(shapes.items()):
        out_task = task.get(out_name) if isinstance(task, dict) else task
        classes = num_classes.get(out_name) if isinstance(num_classes, dict) else num_classes
        if out_task is None or (out_task != "regression" and classes is None):
            continue
        if out_task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {out_task!r}")
        at = f"{where}.outputs[{index}]" if several else f"{where}.layers[-1]"
        label = f"the output {out_name!r}" if several else "the last layer"
        _check_one(model, out_name, shape, int(classes or 1), out_task, at, label)


def _check_one(model: Any, out_name: str, shape: tuple, classes: int, task: str, at: str, label: str) -> None:
    if len(shape) > 2:
        pool = {3: "GlobalAveragePooling1D", 4: "GlobalAveragePooling2D", 5: "GlobalAveragePooling3D"}.get(
            len(shape), "Flatten")
        raise ModelError(
            f"{label} gives one {list(shape[1:])} array per example, but the labels are one value per example",
            where=at,
            fix=f"Add a Flatten (or {pool}) layer before the final Dense so the output is (batch, units).",
        )
    units = shape[-1] if len(shape) == 2 else 1
    layer = _output_layer(model, out_name)
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if task == "multiclass" and units != classes:
        raise ModelError(
            f"{label} has {units} units but the data has {classes} classes",
            where=at, fix=f"Set units: {classes} on {at} (one unit per class).",
        )
    if task == "binary":
        if units not in (1, 2):
            raise ModelError(
                f"{label} has {units} units but the data has 2 classes (binary)",
                where=at,
                fix=f"Set units: 1 with activation: sigmoid on {at} (or units: 2 with softmax).",
            )
        if units == 1 and activation == "softmax":
            raise ModelError(
                f"{label} has 1 unit with a softmax activation, which always outputs 1.0",
                where=f"{at}.activation" if at.endswith("]") else at,
                fix="Use activation: sigmoid with one unit (or units: 2 with softmax).",
            )
    if task == "regression" and units != 1:
        raise ModelError(
            f"{label} has {units} units but regression predicts one number per example",
            where=at, fix=f"Set units: 1 (and no activation, or linear) on {at}.",
        )


def _producer(tensor: Any) -> str | None:
    history = getattr(tensor, "_keras_history", None)
    return getattr(getattr(history, "operation", None), "name", None)


def _output_layer(model: Any, out_name: str) -> Any:
    try:
        return model.get_layer(out_name)
    except (ValueError, AttributeError):
        layers = getattr(model, "layers", None)
        return layers[-1] if layers else None
