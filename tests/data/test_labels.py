"""Label encodings for losses, default losses, class weights."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.data import class_weights, default_loss, encode_labels, label_encoding_for
from kerasforge.errors import DataError


@pytest.mark.parametrize("loss, expected", [
    ("categorical_crossentropy", "one_hot"), ("CategoricalCrossentropy", "one_hot"),
    ("CategoricalFocalCrossentropy", "one_hot"), ("kl_divergence", "one_hot"), ("KLDivergence", "one_hot"),
    ("sparse_categorical_crossentropy", "sparse"), ("SparseCategoricalCrossentropy", "sparse"),
    ("binary_crossentropy", "binary"), ("BinaryFocalCrossentropy", "binary"), ("BinaryCrossentropy", "binary"),
    ("mse", "raw"), ("MeanSquaredError", "raw"), ("huber", "raw"),
])
def test_auto_encoding_follows_the_loss(loss: str, expected: str) -> None:
    assert label_encoding_for(loss, "auto", "multiclass" if expected != "raw" else "regression") == expected


def test_contradicting_request_says_what_to_use() -> None:
    with pytest.raises(DataError) as info:
        label_encoding_for("sparse_categorical_crossentropy", "one_hot", "multiclass")
    msg = str(info.value)
    assert msg.startswith("data.labels:") and "train.loss" in msg and "data.labels: sparse" in msg
    assert "categorical_crossentropy" in msg
    with pytest.raises(DataError, match="data.labels: one_hot"):
        label_encoding_for("CategoricalCrossentropy", "sparse", "multiclass")
    with pytest.raises(DataError, match="regression loss"):
        label_encoding_for("mse", "one_hot", "regression")
    assert label_encoding_for("categorical_crossentropy", "one_hot", "multiclass") == "one_hot"
    assert label_encoding_for("binary_crossentropy", "sparse", "binary") == "binary"


def test_encode_labels() -> None:
    y = np.array([2, 0, 1])
    assert encode_labels(y, "one_hot", 3).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert encode_labels(y, "sparse", 3).dtype == np.int32
    assert encode_labels(np.array([1, 0]), "binary", 2).shape == (2, 1)
    assert encode_labels(np.array([0.5, 2.5]), "raw", 1).dtype == np.float32
    with pytest.raises(DataError):
        encode_labels(y, "binary", 3)
    with pytest.raises(DataError):
        encode_labels(np.array([5]), "one_hot", 3)


def test_default_loss() -> None:
    assert default_loss("multiclass", 10) == "sparse_categorical_crossentropy"
    assert default_loss("binary", 2) == "binary_crossentropy"
    assert default_loss("regression", 1) == "mse"


def test_class_weights() -> None:
    y = np.array([0] * 6 + [1] * 2 + [2] * 4)
    w = class_weights(y, "balanced", 3)
    assert w == pytest.approx({0: 12 / 18, 1: 2.0, 2: 1.0})
    assert class_weights(y, {0: 1, "2": 3.5}, 3) == {0: 1.0, 1: 1.0, 2: 3.5}
    with pytest.raises(DataError, match="train.class_weight.*'cat' is not a class id"):
        class_weights(y, {"cat": 2.0}, 3)
    with pytest.raises(DataError, match="not a class id"):
        class_weights(y, {7: 2.0}, 3)
    with pytest.raises(DataError, match="balanced"):
        class_weights(y, "equal", 3)
