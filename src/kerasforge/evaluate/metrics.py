"""Loss and compiled metrics on a held-out split, named ``<split>_<metric>``."""

from __future__ import annotations

import math


def evaluate_model(model, x, y, *, batch_size: int = 128, prefix: str = "test",
                   examples: int | None = None) -> dict[str, float]:
    """``model.evaluate`` as a flat dict: ``{"test_loss": ..., "test_accuracy": ...}``, plus the count
    (``examples``, when ``x`` is a dataset of batches rather than arrays)."""
    results = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    metrics: dict[str, float] = {}
    for name, value in results.items():
        if isinstance(value, dict):  # multi-output models nest their metrics
            for sub, sub_value in value.items():
                metrics[f"{prefix}_{name}_{sub}"] = _number(sub_value)
        else:
            metrics[f"{prefix}_{name}"] = _number(value)
    metrics[f"{prefix}_examples"] = examples if examples is not None else (
        len(next(iter(x.values()))) if isinstance(x, dict) else len(x))
    return metrics


def _number(value) -> float:
    number = float(value)
    return number if math.isfinite(number) else float("nan")
