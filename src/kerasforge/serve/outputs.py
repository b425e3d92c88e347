"""Serving multi-output models: the engine gives every output side by side, the answer names them.

A Keras engine of a model with several outputs returns one ``(N, total units)`` array (so micro-batching
and the guards see one array, as for any model) and records each output's name and width in
``engine.output_columns``. ``:predict`` then answers as TF Serving does for several named output
tensors: the row format (``instances``) gives one object per example, ``{"digit": [...], "parity": [...]}``;
the columnar format (``inputs``) one object of named outputs, each a list over examples. ``:classify``
and ``:regress`` describe the main (first) output.

Example:
    >>> import numpy as np
    >>> named_predictions(np.array([[0.2, 0.8, 0.9]]), [("digit", 2), ("parity", 1)], rows=True)
    [{'digit': [0.2, 0.8], 'parity': [0.9]}]
"""

from __future__ import annotations

from typing import Any

import numpy as np


def columns_of(model: Any) -> list[tuple[str, int]] | None:
    """``[(output name, units), ...]`` of a Keras model with several outputs (``None`` for one).

    >>> import keras
    >>> inp = keras.Input((3,))
    >>> m = keras.Model(inp, {"a": keras.layers.Dense(2, name="a")(inp), "b": keras.layers.Dense(1, name="b")(inp)})
    >>> columns_of(m)
    [('a', 2), ('b', 1)]
    """
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) < 2:
        return None
    names = list(getattr(model, "output_names", None) or [f"output_{i}" for i in range(len(outputs))])
    return [(str(n), int(np.prod([d for d in t.shape[1:] if d is not None]) or 1))
            for n, t in zip(names, outputs, strict=False)]


def side_by_side(raw: Any, columns: list[tuple[str, int]], logits: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """The outputs of ``predict_on_batch`` (a dict by name, or a list in order) as one ``(N, units)`` array;
    the ``logits`` outputs (``from_logits: true``) made probabilities first."""
    from ..evaluate.outputs import activate

    parts = [raw[name] for name, _ in columns] if isinstance(raw, dict) else list(raw)
    parts = [activate(p) if name in logits else p for (name, _), p in zip(columns, parts, strict=False)]
    return np.concatenate([np.asarray(p, dtype="float32").reshape(len(p), -1) for p in parts], axis=1)


def named_predictions(out: np.ndarray, columns: list[tuple[str, int]], *, rows: bool) -> Any:
    """The side-by-side array split into named outputs: per example (``rows``) or per output."""
    named, start = {}, 0
    for name, units in columns:
        named[name] = np.asarray(out[:, start:start + units], dtype="float64")
        start += units
    if rows:
        return [{name: value[i].tolist() for name, value in named.items()} for i in range(len(out))]
    return {name: value.tolist() for name, value in named.items()}


def main_columns(out: np.ndarray, engine: Any) -> np.ndarray:
    """The main (first) output's columns of an engine's answer (all of it for a one-output model)."""
    columns = getattr(engine, "output_columns", None)
    return out[:, :columns[0][1]] if columns else out
