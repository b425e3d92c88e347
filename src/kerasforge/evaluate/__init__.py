"""Evaluation: test loss and metrics of a trained model.

Example:
    >>> metrics = evaluate_model(model, x_test, y_test, batch_size=128)   # doctest: +SKIP
    >>> metrics["test_accuracy"]                                          # doctest: +SKIP
    0.9121
"""

from __future__ import annotations

from .metrics import evaluate_model

__all__ = ["evaluate_model"]
