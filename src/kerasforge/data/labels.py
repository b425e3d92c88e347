"""Labels for the loss: which encoding a loss needs, encoding class ids, default losses, class weights.

Example:
    >>> label_encoding_for("CategoricalCrossentropy", "auto", "multiclass")
    'one_hot'
    >>> encode_labels(np.array([2, 0]), "one_hot", 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import numpy as np

from ..errors import DataError
from .dataset import Task

Encoding = Literal["sparse", "one_hot", "binary", "raw"]

ONE_HOT_LOSSES = {"categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence",
                  "kullback_leibler_divergence", "kld", "categorical_hinge", "poisson_categorical"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
BINARY_LOSSES = {"binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"}
REGRESSION_LOSSES = {"mse", "mae", "mape", "msle", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                     "huber", "log_cosh", "logcosh", "cosine_similarity", "poisson", "tversky", "dice"}
_ALIASES = {"kl_divergence": "kl_divergence", "k_l_divergence": "kl_divergence", "kldivergence": "kl_divergence",
            "mean_squared_error": "mse", "mean_absolute_error": "mae"}


def normalize_loss_name(name: str) -> str:
    """``SparseCategoricalCrossentropy`` / ``sparse_categorical_crossentropy`` → ``sparse_categorical_crossentropy``.

    >>> normalize_loss_name("BinaryFocalCrossentropy")
    'binary_focal_crossentropy'
    """
    name = name.split(":")[-1].split(".")[-1].strip()
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    snake = snake.replace("cross_entropy", "crossentropy")
    return _ALIASES.get(snake, snake)


def default_loss(task: Task, num_classes: int, output_units: int | None = None) -> str:
    """The Keras loss that fits a task (and the model's output width) when the recipe names none.

    A binary task whose model ends in two units (a softmax over both classes, as many tutorials write it)
    gets sparse categorical cross-entropy; one unit gets binary cross-entropy.

    >>> default_loss("multiclass", 10), default_loss("binary", 2), default_loss("regression", 1)
    ('sparse_categorical_crossentropy', 'binary_crossentropy', 'mse')
    >>> default_loss("binary", 2, output_units=2)
    'sparse_categorical_crossentropy'
    """
    if task == "regression":
        return "mse"
    if (task == "binary" or num_classes == 2 and task != "multiclass") and output_units != 2:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy"


def label_encoding_for(loss_name: str, requested: Literal["auto", "sparse", "one_hot"] = "auto",
                       task: Task = "multiclass") -> Encoding:
    """How labels must be encoded for ``loss_name``; a clear error when ``data.labels`` contradicts it.

    >>> label_encoding_for("sparse_categorical_crossentropy", "auto", "multiclass")
    'sparse'
    """
    loss = normalize_loss_name(loss_name)
    if loss in ONE_HOT_LOSSES:
        needed: Encoding = "one_hot"
    elif loss in SPARSE_LOSSES:
        needed = "sparse"
    elif loss in BINARY_LOSSES:
        needed = "binary"
    elif loss in REGRESSION_LOSSES and task == "multiclass":
        needed = "one_hot"  # MSE/MAE on class probabilities: compared with one-hot rows (a Brier score)
    elif loss in REGRESSION_LOSSES and task == "binary":
        needed = "binary"
    elif loss in REGRESSION_LOSSES or task == "regression":
        needed = "raw"
    else:  # a loss of the user's own: trust the recipe, class ids by default
        needed = "sparse" if requested == "auto" else requested
    if requested == "auto" or requested == needed or (needed == "binary" and requested == "sparse"):
        return needed
    if needed in ("one_hot", "sparse"):
        fix = f"Set `data.labels: {needed}` (or `auto`), or keep `data.labels: {requested}` and use " + (
            "`train.loss: categorical_crossentropy`." if requested == "one_hot"
            else "`train.loss: sparse_categorical_crossentropy`.")
        raise DataError(f"asks for {requested} labels, but `train.loss: {loss_name}` needs "
                        f"{'one-hot rows' if needed == 'one_hot' else 'integer class ids'}",
                        where="data.labels", fix=fix)
    if needed == "binary":
        raise DataError(f"asks for {requested} labels, but `train.loss: {loss_name}` needs 0/1 labels "
                        "(one column per example)", where="data.labels",
                        fix="Set `data.labels: auto`, or use `train.loss: "
                            f"{'categorical_crossentropy' if requested == 'one_hot' else 'sparse_categorical_crossentropy'}`"
                            " with a softmax output of one unit per class.")
    raise DataError(f"asks for {requested} labels, but `train.loss: {loss_name}` is a regression loss "
                    "that takes the targets as they are", where="data.labels",
                    fix="Set `data.labels: auto`, or use a classification loss in `train.loss`.")


def encode_labels(y: np.ndarray, encoding: Encoding, num_classes: int) -> np.ndarray:
    """Class ids ``y`` encoded for the loss: ``sparse`` int32 (N,), ``one_hot`` float32 (N, C),
    ``binary`` float32 (N, 1), ``raw`` float32 as given.

    >>> encode_labels(np.array([1, 0]), "binary", 2).tolist()
    [[1.0], [0.0]]
    """
    y = np.asarray(y)
    if encoding == "raw":
        return y.astype(np.float32)
    if encoding == "binary":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.size and (y.min() < 0 or y.max() > 1):
            raise DataError(f"binary labels must be 0 or 1, but they go up to {y.max()} ({num_classes} classes)",
                            where="train.loss", fix="Use sparse_categorical_crossentropy for more than two classes.")
        return y.astype(np.float32).reshape(-1, 1)
    ids = y.astype(np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise DataError(f"labels go from {ids.min()} to {ids.max()} but there are {num_classes} classes",
                        where="data", fix="Check the dataset's class ids.")
    if encoding == "sparse":
        return ids.astype(np.int32)
    return np.eye(num_classes, dtype=np.float32)[ids]


def class_weights(y: np.ndarray, mode_or_mapping: str | Mapping, num_classes: int) -> dict[int, float]:
    """``class_weight`` for ``model.fit``: ``"balanced"`` (scikit-learn's formula) or an explicit mapping.

    >>> class_weights(np.array([0, 0, 0, 1]), "balanced", 2)
    {0: 0.6666666666666666, 1: 2.0}
    """
    if isinstance(mode_or_mapping, str):
        if mode_or_mapping != "balanced":
            raise DataError(f"'{mode_or_mapping}' is not a class weighting", where="train.class_weight",
                            fix="Use `balanced` or a mapping of class id to weight, e.g. {0: 1.0, 1: 3.0}.")
        from sklearn.utils.class_weight import compute_class_weight

        y = np.asarray(y).astype(np.int64).reshape(-1)
        present = np.unique(y)
        weights = compute_class_weight("balanced", classes=present, y=y)
        out = {int(c): 1.0 for c in range(num_classes)}
        out.update({int(c): float(w) for c, w in zip(present, weights, strict=True)})
        return out
    out = {}
    for key, value in dict(mode_or_mapping).items():
        try:
            cid = int(key)
            ok = str(key).strip().lstrip("-").isdigit() if isinstance(key, str) else float(key) == cid
        except (TypeError, ValueError):
            ok = False
        if not ok or not 0 <= cid < num_classes:
            raise DataError(f"key {key!r} is not a class id (0 to {num_classes - 1})", where="train.class_weight",
                            fix="Use class ids as keys, e.g. {0: 1.0, 1: 3.0}.")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            weight = -1.0
        if not weight >= 0:
            raise DataError(f"weight {value!r} for class {key} is not a non-negative number",
                            where="train.class_weight", fix="Give each class a number such as 1.0.")
        out[cid] = weight
    return {c: out.get(c, 1.0) for c in range(num_classes)}
