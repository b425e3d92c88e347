"""What a classifier gets right and wrong: confusion matrix, per-class report, top-k, ROC, top losses.

Everything is computed from class probabilities and integer labels with scikit-learn's metrics and
returned as plain JSON-able data (what ``<run>/evaluation.json`` holds).

Example:
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    >>> ev = evaluate_classification(probs, np.array([0, 1, 1]), ["cat", "dog"])
    >>> ev["accuracy"], ev["confusion_matrix"]["counts"]
    (0.6667, [[1, 0], [1, 1]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOP_K = (3, 5)
EPS = 1e-12


def evaluate_classification(probs: np.ndarray, y_true: np.ndarray, class_names: list[str], *,
                            top_losses: int = 16) -> dict[str, Any]:
    """Confusion matrix (counts and row-normalised), classification report, per-class accuracy,
    top-k accuracy (k < classes), ROC/AUC (two classes) and the ``top_losses`` worst examples."""
    from sklearn.metrics import classification_report, confusion_matrix, top_k_accuracy_score

    probs = np.array(probs, dtype=np.float64)
    bad_rows = ~np.isfinite(probs).all(axis=1)
    probs[bad_rows] = 1.0 / probs.shape[1]  # NaN outputs (a diverged model) count as "no idea"
    y_true = np.asarray(y_true).astype(np.int64).reshape(-1)
    n_classes = max(probs.shape[1], len(class_names))
    names = [str(c) for c in class_names] or [str(i) for i in range(n_classes)]
    labels = list(range(n_classes))
    y_pred = probs.argmax(axis=1)
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    row_sums = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, row_sums, out=np.zeros(counts.shape, dtype=np.float64), where=row_sums > 0)
    report = classification_report(y_true, y_pred, labels=labels, target_names=names, output_dict=True,
                                   zero_division=0)
    per_class = {name: {key: _round(report[name][key]) for key in ("precision", "recall", "f1-score")}
                 | {"support": int(report[name]["support"])} for name in names}
    per_class_accuracy = {name: _round(normalized[i, i]) if row_sums[i, 0] else None
                          for i, name in enumerate(names)}
    top_k = {}
    for k in TOP_K:
        if n_classes > k:
            top_k[f"top_{k}_accuracy"] = _round(top_k_accuracy_score(y_true, probs, k=k, labels=labels))
    result: dict[str, Any] = {
        "task": "binary" if n_classes == 2 else "multiclass",
        "examples": len(y_true),
        "non_finite_predictions": int(bad_rows.sum()),
        "class_names": names,
        "accuracy": _round(float((y_pred == y_true).mean()) if len(y_true) else 0.0),
        "confusion_matrix": {"labels": names, "counts": counts.tolist(),
                             "normalized": np.round(normalized, 4).tolist()},
        "classification_report": {"per_class": per_class,
                                  "macro_avg": _averages(report.get("macro avg")),
                                  "weighted_avg": _averages(report.get("weighted avg"))},
        "per_class_accuracy": per_class_accuracy,
        "top_k_accuracy": top_k,
        "top_losses": worst_examples(probs, y_true, names, top_losses),
    }
    if n_classes == 2:
        result["roc"] = roc(probs[:, 1], y_true)
    return result


def roc(scores: np.ndarray, y_true: np.ndarray, max_points: int = 200) -> dict[str, Any] | None:
    """ROC curve (false/true positive rates, at most ``max_points``) and its AUC for a binary task."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if len(np.unique(y_true)) < 2:
        return None  # AUC is undefined with one class only
    fpr, tpr, _ = roc_curve(y_true, scores)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"auc": _round(roc_auc_score(y_true, scores)), "fpr": np.round(fpr, 4).tolist(),
            "tpr": np.round(tpr, 4).tolist()}


def worst_examples(probs: np.ndarray, y_true: np.ndarray, names: list[str], n: int) -> list[dict[str, Any]]:
    """The ``n`` examples with the highest cross-entropy loss: index, true, predicted, probability, loss."""
    if n <= 0 or not len(y_true):
        return []
    losses = -np.log(np.clip(probs[np.arange(len(y_true)), y_true], EPS, 1.0))
    order = np.argsort(-losses, kind="stable")[:n]
    pred = probs.argmax(axis=1)
    return [{"index": int(i), "true": names[int(y_true[i])], "predicted": names[int(pred[i])],
             "probability": _round(probs[i, pred[i]]), "true_probability": _round(probs[i, y_true[i]]),
             "loss": _round(losses[i])} for i in order]


def evaluate_regression(pred: np.ndarray, y_true: np.ndarray, *, top_losses: int = 16) -> dict[str, Any]:
    """Regression: MAE, RMSE, R² and the examples with the largest absolute errors."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    finite = np.isfinite(pred)
    if not finite.all():  # a model whose loss became NaN predicts NaN: say so instead of failing
        errors = np.where(finite, np.abs(pred - y_true), np.inf)
        order = np.argsort(-errors, kind="stable")[:top_losses]
        return {"task": "regression", "examples": len(y_true), "non_finite_predictions": int((~finite).sum()),
                "mae": None, "rmse": None, "r2": None,
                "top_losses": [{"index": int(i), "true": _round(y_true[i]),
                                "predicted": _round(pred[i]) if finite[i] else None,
                                "loss": _round(errors[i]) if finite[i] else None} for i in order]}
    errors = np.abs(pred - y_true)
    order = np.argsort(-errors, kind="stable")[:top_losses]
    return {"task": "regression", "examples": len(y_true),
            "mae": _round(mean_absolute_error(y_true, pred)),
            "rmse": _round(float(np.sqrt(mean_squared_error(y_true, pred)))),
            "r2": _round(r2_score(y_true, pred)) if len(y_true) > 1 else None,
            "top_losses": [{"index": int(i), "true": _round(y_true[i]), "predicted": _round(pred[i]),
                            "loss": _round(errors[i])} for i in order]}


def _averages(row: dict | None) -> dict[str, float] | None:
    if not row:
        return None
    return {key: _round(row[key]) for key in ("precision", "recall", "f1-score")}


def _round(value: Any) -> float:
    return round(float(value), 4)
