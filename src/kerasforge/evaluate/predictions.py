"""Predictions of a model's main output as class probabilities, whatever the head looks like.

Multiclass softmax gives ``(N, C)``; a binary sigmoid (one unit) becomes two columns ``[1 - p, p]``;
logits (values outside [0, 1] or rows that do not sum to one) are turned into probabilities; a model
with several outputs is judged on its first (main) output.

Example:
    >>> probs = predict_probabilities(model, x_test, batch_size=256)   # doctest: +SKIP
    >>> probs.shape                                                    # doctest: +SKIP
    (10000, 10)
"""

from __future__ import annotations

import numpy as np


def main_output(predictions, output_names: list[str] | None = None) -> np.ndarray:
    """The first (main) output of ``model.predict``'s result (an array, a list or a dict).

    >>> main_output({"main": np.ones((2, 3)), "aux": np.zeros((2, 1))}, ["main", "aux"]).shape
    (2, 3)
    """
    if isinstance(predictions, dict):
        key = next((k for k in (output_names or []) if k in predictions), next(iter(predictions)))
        predictions = predictions[key]
    elif isinstance(predictions, list | tuple):
        predictions = predictions[0]
    return np.asarray(predictions)


def to_probabilities(raw: np.ndarray, task: str) -> np.ndarray:
    """Class probabilities ``(N, C)`` from a classifier's raw output (``(N, 1)`` sigmoid -> two columns).

    >>> to_probabilities(np.array([[0.8], [0.1]]), "binary").round(2).tolist()
    [[0.2, 0.8], [0.9, 0.1]]
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim > 2:  # e.g. (N, 1, C): keep the last axis as classes
        raw = raw.reshape(len(raw), -1)
    if raw.shape[1] == 1 or task == "binary" and raw.shape[1] == 1:
        p = raw[:, 0]
        if p.min(initial=0.0) < 0 or p.max(initial=1.0) > 1:
            p = 1.0 / (1.0 + np.exp(-np.clip(p, -60, 60)))  # logits
        return np.stack([1.0 - p, p], axis=1)
    in_range = raw.min(initial=0.0) >= 0 and raw.max(initial=1.0) <= 1
    if not (in_range and np.allclose(raw.sum(axis=1), 1.0, atol=1e-3)):
        if in_range and task == "binary":  # two independent sigmoids: normalise
            return raw / np.clip(raw.sum(axis=1, keepdims=True), 1e-12, None)
        shifted = raw - raw.max(axis=1, keepdims=True)  # logits -> softmax
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)
    return raw


def predict_probabilities(model, x, *, task: str = "multiclass", batch_size: int = 256) -> np.ndarray:
    """``model.predict`` of the main output, as class probabilities ``(N, C)``."""
    raw = model.predict(x, batch_size=batch_size, verbose=0)
    return to_probabilities(main_output(raw, list(getattr(model, "output_names", None) or [])), task)


def predict_values(model, x, *, batch_size: int = 256) -> np.ndarray:
    """``model.predict`` of the main output as a flat float array (regression)."""
    raw = model.predict(x, batch_size=batch_size, verbose=0)
    return main_output(raw, list(getattr(model, "output_names", None) or [])).astype(np.float64).reshape(-1)
