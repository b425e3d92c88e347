"""Multi-input models fed by ``data.views``: every input is a slice of ONE raw example, so the inference
model takes that raw example and cuts the views itself, with built-in Keras layers only.

``raw example -> (scaling) -> Reshape (flat, 1) -> Cropping1D per run of features [-> Concatenate] ->
Reshape (the input's shape) -> {view name: tensor} -> trained model``. The cut is the data pipeline's
(:func:`kerasforge.data.preprocess.apply_views`: flatten, then take each view's feature indices), so
exports (Keras, SavedModel, TFLite, ONNX), ``kforge predict`` and ``kforge serve`` take a plain image
(or CSV row) like any single-input model; no Lambda or custom layer, so ``model.keras`` loads in safe mode
anywhere Keras runs.

Example:
    >>> views = run_views(run)                       # doctest: +SKIP
    >>> views.kind, views.shape, views.runs["top"]   # doctest: +SKIP
    ('image', [28, 28, 1], [[0, 392]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ExportError

KINDS = ("image", "tabular")  # raw layouts the views of a trained model can be cut from


@dataclass
class Views:
    """The raw example (its ``kind`` and ``shape``) and, per view, its ``[start, stop)`` runs of flat features."""

    kind: str
    shape: list[int]
    runs: dict[str, list[list[int]]]

    def describe(self) -> str:
        """The cut, in words: ``'top = features 0:392, bottom = 392:784 of the flattened example'``."""
        parts = [f"{name} = features " + " + ".join(f"{a}:{b}" for a, b in runs) for name, runs in self.runs.items()]
        return f"views cut from the flattened raw example {tuple(self.shape)}: " + ", ".join(parts)


def run_views(run) -> Views | None:
    """The views of ``run``'s data (``None`` when its recipe has no ``data.views``).

    Runs record them in ``data.json`` (``preprocessing.views``); for older runs they are cut again from the
    raw data, as the training did.
    """
    recorded = ((run.data_info or {}).get("preprocessing") or {}).get("views")
    if isinstance(recorded, dict) and recorded.get("runs"):
        views = Views(kind=str(recorded.get("kind") or "tabular"), shape=[int(d) for d in recorded["shape"]],
                      runs={str(k): [[int(a), int(b)] for a, b in v] for k, v in recorded["runs"].items()})
    elif getattr(getattr(run.recipe, "data", None), "views", None):
        views = _from_raw_data(run)
    else:
        return None
    if views.kind not in KINDS:
        raise ExportError(f"the views of this run are cut from {views.kind} data; exports cut views from images "
                          "or tabular rows only", where=f"{run.path}/recipe.yaml (data.views)",
                          fix="Use this run's model.keras with Keras directly, feeding each view.")
    return views


def raw_info(info: dict[str, Any], views: Views) -> dict[str, Any]:
    """``data.json``'s facts as the raw input sees them: its kind and the raw example's shape.

    >>> raw_info({"kind": "tabular", "input_shape": {"a": [2]}}, Views("image", [4, 4, 1], {"a": [[0, 2]]}))["input_shape"]
    [4, 4, 1]
    """
    return {**info, "kind": views.kind, "input_shape": list(views.shape), "model_input_shape": list(views.shape)}


def cut_views(x: Any, views: Views, trained: Any) -> dict[str, Any]:
    """``{input name: tensor}`` for ``trained`` from the (scaled) raw Keras tensor ``x``."""
    import math

    import keras

    width = math.prod(views.shape)
    shapes = _input_shapes(trained, views)
    missing = [name for name in shapes if name not in views.runs]
    if missing:
        raise ExportError(f"the model's input(s) {', '.join(missing)} are not views of the data "
                          f"({', '.join(views.runs)})", where="data.views",
                          fix="Name each model input after one of `data.views`.")
    flat = keras.layers.Reshape((width, 1), name="flat_example")(x)
    feeds = {}
    for name, shape in shapes.items():
        parts = [keras.layers.Cropping1D((a, width - b), name=f"{name}_features_{a}_{b}")(flat)
                 for a, b in views.runs[name]]
        part = parts[0] if len(parts) == 1 else keras.layers.Concatenate(axis=1, name=f"{name}_columns")(parts)
        size = sum(b - a for a, b in views.runs[name])
        target = tuple(size if d is None else int(d) for d in shape) if shape else (size,)
        feeds[name] = keras.layers.Reshape(target, name=f"view_{name}")(part)
    return feeds


def _input_shapes(trained: Any, views: Views) -> dict[str, tuple]:
    """``{input name: shape of one example}`` of the trained model; a subclassed model without symbolic
    inputs gets the views as the training fed them (one flat vector each)."""
    try:
        inputs = list(trained.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        return {name: (sum(b - a for a, b in runs),) for name, runs in views.runs.items()}
    return {str(t.name): tuple(t.shape[1:]) for t in inputs}


def _from_raw_data(run) -> Views:
    """A run trained before views were recorded: the raw data read again and the views cut as the training did."""
    import numpy as np

    from ..data.loader import load_raw
    from ..data.preprocess import index_runs, view_indices

    spec = run.recipe.data
    try:
        loaded = load_raw(spec, run.recipe.seed)
    except Exception as exc:
        raise ExportError(f"the run's data cannot be read to learn how its views are cut ({exc})",
                          where=f"{run.path}/recipe.yaml (data)",
                          fix="Make the dataset available again (see `kforge check`), or train the run again.") from exc
    ds = loaded.dataset
    x = ds.x_test if ds.x_test is not None else ds.x_train
    width = int(np.prod(x.shape[1:]))
    index = view_indices(spec.views, width, loaded.feature_columns)
    return Views(kind=ds.kind, shape=[int(d) for d in x.shape[1:]],
                 runs={name: index_runs(idx) for name, idx in index.items()})
