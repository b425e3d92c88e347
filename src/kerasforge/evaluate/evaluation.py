"""The whole evaluation of a trained model on one split: predictions -> ``evaluation.json`` data.

Example:
    >>> ev, probs, picked = evaluate_split(model, x_test, y_test, task="multiclass",
    ...                                    class_names=names)               # doctest: +SKIP
    >>> ev["confusion_matrix"]["counts"][0][:3]                             # doctest: +SKIP
    [912, 1, 14]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .classification import evaluate_classification, evaluate_regression
from .predictions import predict_probabilities, predict_values

MAX_EXAMPLES = 10_000  # predictions beyond this many examples add time but change little
CHUNK = 2048  # rows predicted per call: bounds the memory the evaluation holds


def pick_examples(n: int, max_examples: int = MAX_EXAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of the examples to evaluate: all of them, or a seeded random ``max_examples`` (sorted).

    >>> pick_examples(5).tolist()
    [0, 1, 2, 3, 4]
    """
    if n <= max_examples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_examples, replace=False))


def take(x, indices: np.ndarray):
    """Rows ``indices`` of an array or of every array in a dict of named inputs (read from the file, not
    mapped, when the array is memory-mapped from the decoded cache)."""
    if isinstance(x, dict):
        return {k: take(v, indices) for k, v in x.items()}
    if not isinstance(x, np.ndarray | list | tuple) and hasattr(x, "raw"):  # ScaledRows: these rows only
        return x[np.asarray(indices)]
    if isinstance(x, np.memmap) or isinstance(getattr(x, "base", None), np.memmap):
        from ..data.stream import RowReader

        return RowReader(x).read(np.asarray(indices))
    if hasattr(x, "read"):  # texts in the decoded cache (CachedTexts): only these rows are read
        return x.read(np.asarray(indices))
    return np.asarray(x)[indices]


def predict_in_chunks(predict, model, x, picked: np.ndarray, *, batch_size: int, **kwargs) -> np.ndarray:
    """``predict(model, rows, ...)`` over ``picked`` rows of ``x``, :data:`CHUNK` rows at a time, so the
    memory in use stays that of one chunk whatever the split's size."""
    if len(picked) <= CHUNK:
        return predict(model, take(x, picked), batch_size=batch_size, **kwargs)
    return np.concatenate([predict(model, take(x, picked[i:i + CHUNK]), batch_size=batch_size, **kwargs)
                           for i in range(0, len(picked), CHUNK)])


def evaluate_split(model, x, y, *, task: str, class_names: list[str], batch_size: int = 256,
                   max_examples: int = MAX_EXAMPLES, seed: int = 0,
                   top_losses: int = 18) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Evaluation data, the predictions (probabilities, or values for regression) and the indices of
    the examples used. ``y`` holds class ids (or targets for regression); indices in ``top_losses``
    refer to positions in ``x``."""
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    picked = pick_examples(n, max_examples, seed)
    if task == "regression":
        predictions = predict_in_chunks(predict_values, model, x, picked, batch_size=batch_size)
    else:
        predictions = predict_in_chunks(predict_probabilities, model, x, picked, task=task, batch_size=batch_size)
    evaluation = evaluate_predictions(predictions, np.asarray(y)[picked], picked, task=task,
                                      class_names=class_names, top_losses=top_losses, split_examples=n)
    return evaluation, predictions, picked


def evaluate_predictions(predictions: np.ndarray, y_used: np.ndarray, picked: np.ndarray, *, task: str,
                         class_names: list[str], top_losses: int = 18,
                         split_examples: int | None = None) -> dict[str, Any]:
    """The evaluation of ``predictions`` (probabilities, or values for regression) on the examples
    ``picked`` of a split of ``split_examples`` (default: all of them), whose labels are ``y_used``.

    >>> ev = evaluate_predictions(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]), np.arange(2),
    ...                           task="binary", class_names=["a", "b"])
    >>> ev["accuracy"], ev["split_examples"]
    (0.5, 2)
    """
    n = len(picked) if split_examples is None else split_examples
    if task == "regression":
        evaluation = evaluate_regression(predictions, y_used, top_losses=top_losses)
    else:
        evaluation = evaluate_classification(predictions, y_used, class_names, top_losses=top_losses)
    for row in evaluation["top_losses"]:
        row["position"] = row["index"]          # position among the evaluated examples
        row["index"] = int(picked[row["index"]])  # index in the split
    evaluation["sampled"] = bool(len(picked) < n)
    evaluation["split_examples"] = n
    return evaluation
