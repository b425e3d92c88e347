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


def pick_examples(n: int, max_examples: int = MAX_EXAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of the examples to evaluate: all of them, or a seeded random ``max_examples`` (sorted).

    >>> pick_examples(5).tolist()
    [0, 1, 2, 3, 4]
    """
    if n <= max_examples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_examples, replace=False))


def take(x, indices: np.ndarray):
    """Rows ``indices`` of an array or of every array in a dict of named inputs."""
    if isinstance(x, dict):
        return {k: np.asarray(v)[indices] for k, v in x.items()}
    return np.asarray(x)[indices]


def evaluate_split(model, x, y, *, task: str, class_names: list[str], batch_size: int = 256,
                   max_examples: int = MAX_EXAMPLES, seed: int = 0,
                   top_losses: int = 18) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Evaluation data, the predictions (probabilities, or values for regression) and the indices of
    the examples used. ``y`` holds class ids (or targets for regression); indices in ``top_losses``
    refer to positions in ``x``."""
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    picked = pick_examples(n, max_examples, seed)
    x_used, y_used = take(x, picked), np.asarray(y)[picked]
    if task == "regression":
        values = predict_values(model, x_used, batch_size=batch_size)
        evaluation = evaluate_regression(values, y_used, top_losses=top_losses)
        predictions = values
    else:
        predictions = predict_probabilities(model, x_used, task=task, batch_size=batch_size)
        evaluation = evaluate_classification(predictions, y_used, class_names, top_losses=top_losses)
    for row in evaluation["top_losses"]:
        row["position"] = row["index"]          # position among the evaluated examples
        row["index"] = int(picked[row["index"]])  # index in the split
    evaluation["sampled"] = bool(len(picked) < n)
    evaluation["split_examples"] = n
    return evaluation, predictions, picked
