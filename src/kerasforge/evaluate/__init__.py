"""Evaluation: test loss and metrics, what a classifier gets right and wrong, and a diagnosis of the run.

Example:
    >>> metrics = evaluate_model(model, x_test, y_test, batch_size=128)   # doctest: +SKIP
    >>> metrics["test_accuracy"]                                          # doctest: +SKIP
    0.9121
    >>> ev, probs, picked = evaluate_split(model, x_test, y_test, task="multiclass",
    ...                                    class_names=names)             # doctest: +SKIP
    >>> [f["code"] for f in diagnose(history)]                            # doctest: +SKIP
    []
"""

from __future__ import annotations

from .classification import evaluate_classification, evaluate_regression
from .diagnosis import SHAPE_MISMATCH_EXPLANATION, diagnose, explain_shape_error
from .evaluation import evaluate_predictions, evaluate_split
from .metrics import evaluate_model
from .predictions import predict_probabilities, to_probabilities

__all__ = ["SHAPE_MISMATCH_EXPLANATION", "diagnose", "evaluate_classification", "evaluate_model",
           "evaluate_predictions", "evaluate_regression", "evaluate_split", "explain_shape_error", "predict_probabilities",
           "to_probabilities"]
