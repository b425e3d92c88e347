"""Metrics that need one-hot labels (``AUC``, ``Precision``, ``Recall``, ``F1Score``...) working on class ids.

With ``sparse_categorical_crossentropy`` the labels are class ids (N,), while Keras' AUC, Precision, Recall
and friends compare ``y_true`` with ``y_pred`` element by element and need one-hot rows (N, classes):
given class ids they fail mid-training. :func:`sparse_aware` returns a registered subclass that one-hot
encodes ``y_true`` first, so ``metrics: [accuracy, {type: AUC}]`` works with either label encoding, and
a saved model reloads (the subclasses are registered as ``kerasforge>SparseAUC``...).

Example:
    >>> import keras, numpy as np
    >>> auc = sparse_aware(keras.metrics.AUC, 3)(name="auc")
    >>> _ = auc.update_state(np.array([0, 2]), np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]]))
    >>> float(auc.result())
    1.0
"""

from __future__ import annotations

from typing import Any

import keras

ONE_HOT_METRICS = ("AUC", "Precision", "Recall", "PrecisionAtRecall", "RecallAtPrecision",
                   "SensitivityAtSpecificity", "SpecificityAtSensitivity", "TruePositives", "FalsePositives",
                   "TrueNegatives", "FalseNegatives", "F1Score", "FBetaScore", "CategoricalAccuracy",
                   "TopKCategoricalAccuracy", "CategoricalCrossentropy", "KLDivergence", "CategoricalHinge")
_CLASSES: dict[str, type] = {}


def needs_one_hot(metric: Any) -> bool:
    """True for a Keras metric object whose class compares labels with predictions element-wise."""
    return any(type(metric).__name__ == name and type(metric).__module__.startswith("keras")
               for name in ONE_HOT_METRICS)


def sparse_aware(cls: type, num_classes: int) -> Any:
    """A subclass of the Keras metric ``cls`` taking class ids as ``y_true`` (a factory: ``(**kwargs) -> metric``)."""
    registered = _registered(cls)

    def make(**kwargs: Any) -> Any:
        return registered(num_classes=num_classes, **kwargs)

    return make


def _registered(cls: type) -> type:
    name = f"Sparse{cls.__name__}"
    if name in _CLASSES:
        return _CLASSES[name]

    def __init__(self, *args: Any, num_classes: int, **kwargs: Any) -> None:
        cls.__init__(self, *args, **kwargs)
        self.num_classes = int(num_classes)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        ids = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        y_true = keras.ops.cast(keras.ops.one_hot(ids, self.num_classes), y_pred.dtype)
        return cls.update_state(self, y_true, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**cls.get_config(self), "num_classes": self.num_classes}

    sub = type(name, (cls,), {"__init__": __init__, "update_state": update_state, "get_config": get_config,
                              "__module__": __name__, "__doc__": f"{cls.__name__} on class-id labels."})
    sub = keras.saving.register_keras_serializable(package="kerasforge", name=name)(sub)
    _CLASSES[name] = sub
    globals()[name] = sub
    return sub


def wrap_for_sparse_labels(metrics: list, num_classes: int) -> list:
    """``metrics`` with every one-hot-only Keras metric replaced by its class-id variant (same config)."""
    out = []
    for metric in metrics:
        if needs_one_hot(metric):
            config = metric.get_config()
            metric = _registered(type(metric))(num_classes=num_classes, **config)
        out.append(metric)
    return out


for _name in ("AUC", "Precision", "Recall", "F1Score", "FBetaScore", "CategoricalAccuracy",
              "TopKCategoricalAccuracy", "PrecisionAtRecall", "RecallAtPrecision"):
    _registered(getattr(keras.metrics, _name))  # registered at import, so saved models reload
