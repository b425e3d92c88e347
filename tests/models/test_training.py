"""Each model style trains on real data (scikit-learn's digits) well above chance (10 %)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.models import build_model, check_outputs
from kerasforge.recipe import FunctionalModelSpec, PythonModelSpec, SequentialModelSpec


def fit_and_score(model, digits, x_train=None, x_test=None, epochs=8, learning_rate=0.01):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(digits.x_train if x_train is None else x_train, digits.y_train, epochs=epochs,
                        batch_size=64, verbose=0)
    scores = model.evaluate(digits.x_test if x_test is None else x_test, digits.y_test, verbose=0,
                            return_dict=True)
    return history, scores["accuracy"]


def test_sequential_mlp_learns_digits(digits):
    spec = SequentialModelSpec(layers=[
        "Flatten",
        {"type": "Dense", "units": 64, "activation": "relu", "kernel_regularizer": {"l2": 1e-4}},
        {"type": "Dropout", "rate": 0.1},
        {"type": "Dense", "units": 10, "activation": "softmax"},
    ])
    model = build_model(spec, digits.x_train.shape[1:], num_classes=10)
    check_outputs(model, 10, "multiclass")
    _, accuracy = fit_and_score(model, digits)
    assert accuracy >= 0.9


def test_functional_two_views_learn_digits(digits):
    """The top and bottom halves of each image as two named inputs, concatenated."""
    def views(x):
        flat = x.reshape(len(x), 64)
        return {"top": flat[:, :32], "bottom": flat[:, 32:]}

    spec = FunctionalModelSpec(layers=[
        {"type": "Dense", "units": 32, "activation": "relu", "inputs": "top", "name": "top_features"},
        {"type": "Dense", "units": 32, "activation": "relu", "inputs": "bottom", "name": "bottom_features"},
        {"type": "Concatenate", "inputs": ["top_features", "bottom_features"]},
        {"type": "Dense", "units": 10, "activation": "softmax", "name": "digit"},
    ])
    model = build_model(spec, {"top": (32,), "bottom": (32,)}, num_classes=10)
    check_outputs(model, 10, "multiclass")
    _, accuracy = fit_and_score(model, digits, views(digits.x_train), views(digits.x_test))
    assert accuracy >= 0.85


def test_python_builder_learns_digits(digits):
    model = build_model(PythonModelSpec(ref="user_models:build_mlp", kwargs={"hidden": 48}), (8, 8, 1), 10)
    _, accuracy = fit_and_score(model, digits)
    assert accuracy >= 0.8


def test_subclassed_model_with_its_own_train_step_learns_digits(digits):
    model = build_model(PythonModelSpec(ref="user_models:SmallClassifier", kwargs={"hidden": 64, "clip_norm": 1.0}),
                        (8, 8, 1), 10)
    history, accuracy = fit_and_score(model, digits, epochs=6)
    assert accuracy >= 0.8
    batches = int(np.ceil(len(digits.x_train) / 64))
    # 'steps' and 'grad_norm' exist only because our train_step ran, once per batch, every epoch.
    assert history.history["steps"] == [batches] * 6
    assert all(norm > 0 for norm in history.history["grad_norm"])
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert history.history["accuracy"][-1] > 0.85


@pytest.mark.parametrize("clip_norm", [1e-3, 1e3])
def test_custom_train_step_clips_gradients_by_global_norm(digits, clip_norm):
    """With SGD(lr=1) the weights move by exactly the (clipped) gradient: its norm is at most clip_norm."""
    model = build_model(PythonModelSpec(ref="user_models:SmallClassifier",
                                        kwargs={"hidden": 16, "dropout": 0.0, "clip_norm": clip_norm}), (8, 8, 1), 10)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(digits.x_train[:64], digits.y_train[:64], epochs=1, batch_size=64, verbose=0)
    after = model.get_weights()
    moved = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after, before, strict=True)))
    grad_norm = history.history["grad_norm"][0]
    assert history.history["steps"] == [1]
    assert grad_norm > 0.1  # the raw gradient is far larger than the small clip...
    if clip_norm < grad_norm:
        assert moved == pytest.approx(clip_norm, rel=1e-3)  # ...so the step is cut to clip_norm
    else:
        assert moved == pytest.approx(grad_norm, rel=1e-3)  # a large clip leaves it alone
