"""fit_features: reshapes when the number of values matches, explains what to change otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.data import fit_features
from kerasforge.errors import DataError


def test_flatten_add_and_drop_channel() -> None:
    x = np.zeros((3, 28, 28, 1), np.float32)
    assert fit_features(x, (784,), where="model").shape == (3, 784)
    assert fit_features(x[..., 0], (28, 28, 1), where="model").shape == (3, 28, 28, 1)
    assert fit_features(x[..., 0], (None, None, 1), where="model").shape == (3, 28, 28, 1)
    assert fit_features(x, (28, 28), where="model").shape == (3, 28, 28)
    assert fit_features(x, (None, None, 1), where="model") is x
    texts = np.array(["a", "b"], dtype=object)
    assert fit_features(texts, (1,), where="model").shape == (2, 1)


def test_channel_mismatch_offers_color_mode() -> None:
    with pytest.raises(DataError) as info:
        fit_features(np.zeros((2, 32, 32, 3)), (32, 32, 1), where="model.input_shape")
    msg = str(info.value)
    assert msg.startswith("model.input_shape:") and "data.color_mode: grayscale" in msg and "\n" not in msg
    with pytest.raises(DataError, match="data.color_mode: rgb"):
        fit_features(np.zeros((2, 28, 28, 1)), (None, None, 3), where="model")
    with pytest.raises(DataError, match="data.color_mode: grayscale"):
        fit_features(np.zeros((2, 28, 28, 3)), (784,), where="model")


def test_spatial_mismatch_offers_image_size() -> None:
    with pytest.raises(DataError, match=r"data.image_size: \[64, 64\]") as info:
        fit_features(np.zeros((2, 32, 32, 3)), (64, 64, 3), where="model")
    assert "model.input_shape" in str(info.value)


def test_dict_features() -> None:
    x = {"a": np.zeros((4, 6)), "b": np.zeros((4, 2, 2))}
    out = fit_features(x, {"a": (6, 1), "b": (4,)}, where="model.inputs")
    assert out["a"].shape == (4, 6, 1) and out["b"].shape == (4, 4)
    with pytest.raises(DataError, match="model.inputs.*have no data"):
        fit_features(x, {"c": (6,)}, where="model.inputs")
    with pytest.raises(DataError, match="single input"):
        fit_features(x, (6,), where="model")
    assert fit_features(np.zeros((4, 6)), {"only": (6,)}, where="m")["only"].shape == (4, 6)
