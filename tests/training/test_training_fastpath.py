"""The training fast path: when it applies, why it falls back, what it sets, and that results stay the same."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import kerasforge
from kerasforge.errors import TrainError
from kerasforge.recipe import TrainSpec, load_recipe
from kerasforge.training import fastpath
from kerasforge.training.fastpath import (
    MAX_STEPS_PER_EXECUTION,
    EpochTimer,
    apply_fast_path,
    batch_control_reason,
    best_jit_compile,
    choose_precision,
    data_bytes,
    is_convolutional,
    outputs_in_float32,
    plan_fast_path,
    precision_scope,
    timing_summary,
)
from kerasforge.training.guards import NonFiniteLossGuard

X = np.zeros((1000, 8), "float32")
Y = np.zeros(1000, "int64")
PLENTY = 16 * 2**30


def plan(spec: TrainSpec | None = None, callbacks: list | None = None, **kwargs):
    kwargs.setdefault("memory_bytes", PLENTY)
    kwargs.setdefault("backend", "tensorflow")
    kwargs.setdefault("accelerator", "cpu")
    return plan_fast_path(spec or TrainSpec(batch_size=10), x=kwargs.pop("x", X), y=Y,
                          callbacks=callbacks or [], **kwargs)


class PerBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


class PerBatchButSafe(PerBatch):
    fast_path_safe = True


class PerEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


def test_applies_to_in_memory_arrays_with_many_steps_per_call_and_no_xla_on_tf_cpu():
    p = plan()
    assert p.applies and p.steps_per_execution == MAX_STEPS_PER_EXECUTION and p.jit_compile is False
    assert p.data_bytes == X.nbytes + Y.nbytes
    assert p.describe() == "fast path: 64 steps per call, jit_compile off (tensorflow on CPU), float32"
    small = plan(TrainSpec(batch_size=128))  # 8 batches an epoch: 8 steps per call
    assert small.steps_per_execution == 8


def test_jit_compile_per_backend():
    assert plan(backend="jax").jit_compile is True
    assert plan(backend="tensorflow", accelerator="gpu").jit_compile is True
    assert plan(backend="torch").jit_compile is False
    assert best_jit_compile("tensorflow", "cpu") is False
    strings = np.array(["a b"] * 1000)
    assert plan(backend="jax", x=strings).jit_compile is False


def test_the_recipes_explicit_settings_are_kept():
    p = plan(TrainSpec(batch_size=10, steps_per_execution=5, jit_compile=True))
    assert p.applies and p.steps_per_execution == 5 and p.jit_compile is True
    assert "steps_per_execution as the recipe says" in p.notes and "jit_compile as the recipe says" in p.notes


@pytest.mark.parametrize("callback, why", [
    (PerBatch(), "callback PerBatch overrides on_train_batch_end"),
    (keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None),
     "callback LambdaCallback overrides on_batch_end"),
    (keras.callbacks.TensorBoard(log_dir="/tmp/kforge-tb-unused", update_freq=10),
     "TensorBoard acts every 10 batches (update_freq)"),
    (keras.callbacks.ModelCheckpoint("/tmp/kforge-unused.keras", save_freq=5),
     "ModelCheckpoint acts every 5 batches (save_freq)"),
])
def test_falls_back_when_a_callback_needs_per_batch_control(callback, why):
    p = plan(callbacks=[PerEpoch(), callback])
    assert not p.applies and why in p.reason
    assert p.describe() == f"fast path off: {p.reason}"
    with pytest.raises(TrainError, match="train.fast is true but the fast path cannot apply"):
        plan(TrainSpec(batch_size=10, fast=True), callbacks=[callback])


def test_callbacks_that_work_with_several_steps_per_call_keep_it_on():
    callbacks = [PerEpoch(), PerBatchButSafe(), NonFiniteLossGuard(), EpochTimer(),
                 keras.callbacks.EarlyStopping(), keras.callbacks.ReduceLROnPlateau(), keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.TensorBoard(log_dir="/tmp/kforge-tb-unused"),
                 keras.callbacks.ModelCheckpoint("/tmp/kforge-unused.keras")]
    assert all(batch_control_reason(c) is None for c in callbacks)
    assert plan(callbacks=callbacks).applies


def test_falls_back_when_the_data_does_not_fit_or_is_not_arrays():
    p = plan(memory_bytes=100_000)
    assert not p.applies and "does not fit comfortably in CPU memory" in p.reason
    assert plan(TrainSpec(batch_size=10, fast=True), memory_bytes=100_000).applies  # asked for: no estimate
    stream = plan(x=iter([X]))
    assert not stream.applies and stream.reason == "the training data is not in-memory arrays"
    off = plan(TrainSpec(fast=False))
    assert not off.applies and off.reason == "train.fast is false"


def test_data_bytes_and_timing_summary():
    assert data_bytes(X, {"a": Y}, [Y], None) == X.nbytes + 2 * Y.nbytes
    assert data_bytes(X, object()) is None
    assert timing_summary([3.0, 1.0, 1.2, 1.1]) == {
        "first_epoch_s": 3.0, "steady_epoch_s": 1.1, "compile_s": 1.9, "epochs_timed": 4}
    assert timing_summary([2.0])["compile_s"] == 0.0 and timing_summary([]) == {}


def test_precision_choice_and_scope(monkeypatch):
    assert choose_precision(TrainSpec(), "tensorflow", "cpu") is None  # MLPs on CPUs stay float32
    monkeypatch.setattr(fastpath, "cpu_has_bfloat16", lambda: True)
    assert choose_precision(TrainSpec(), "tensorflow", "cpu", convolutional=True) == "mixed_bfloat16"
    assert choose_precision(TrainSpec(), "jax", "cpu", convolutional=True) is None
    assert choose_precision(TrainSpec(precision="float32"), "tensorflow", "cpu", convolutional=True) == "float32"
    monkeypatch.setattr(fastpath, "cpu_has_bfloat16", lambda: False)
    assert choose_precision(TrainSpec(), "tensorflow", "cpu", convolutional=True) is None
    assert choose_precision(TrainSpec(precision="mixed_bfloat16"), "tensorflow", "cpu") == "mixed_bfloat16"
    assert choose_precision(TrainSpec(fast=False), "jax", "gpu") is None
    before = keras.mixed_precision.global_policy().name
    with precision_scope("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    assert layer.compute_dtype == "bfloat16" and keras.mixed_precision.global_policy().name == before
    outputs_in_float32(model, "mixed_bfloat16")
    assert [layer.compute_dtype for layer in model.layers] == ["bfloat16", "float32"]
    assert is_convolutional(load_recipe("fashion_mnist_cnn").model) and not is_convolutional(load_recipe("digits_mlp").model)


def test_apply_sets_the_compiled_models_settings():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    p = plan()
    apply_fast_path(model, p)
    assert model.steps_per_execution == p.steps_per_execution and model.jit_compile is False
    model.fit(X, np.zeros((1000, 2), "float32"), batch_size=10, epochs=1, verbose=0)
    untouched = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    untouched.compile(optimizer="adam", loss="mse")
    apply_fast_path(untouched, plan(TrainSpec(fast=False)))
    assert untouched.steps_per_execution == 1


def test_digits_trained_fast_and_plain_reach_the_same_accuracy_and_time_their_epochs(tmp_path):
    runs = {}
    for fast in ("auto", "false"):
        runs[fast] = kerasforge.train("digits_mlp", overrides=["train.epochs=8", f"train.fast={fast}"],
                                      output_dir=tmp_path / fast, show_summary=False, report=False, track=False)
    fast, plain = runs["auto"], runs["false"]
    assert fast.info["fast_path"]["applies"] is True and fast.info["fast_path"]["steps_per_execution"] > 1
    assert plain.info["fast_path"] == {**plain.info["fast_path"], "applies": False, "reason": "train.fast is false"}
    assert fast.metrics["test_accuracy"] > 0.85
    assert abs(fast.metrics["test_accuracy"] - plain.metrics["test_accuracy"]) < 0.03
    for run in (fast, plain):
        assert len(run.history["epoch_time_s"]) == 8 and all(t > 0 for t in run.history["epoch_time_s"])
        timings = json.loads((run.path / "run.json").read_text())["timings"]
        assert {"compile_s", "steady_epoch_s", "first_epoch_s"} <= set(timings)
        assert timings["compile_s"] >= 0 and timings["steady_epoch_s"] > 0


def test_mixed_precision_training_leaves_a_float32_model(tmp_path):
    recipe = {"name": "digits_conv_bf16", "seed": 1, "data": {"dataset": "digits"},
              "model": {"layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
                                   "Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"epochs": 6, "batch_size": 32, "precision": "mixed_bfloat16"}}
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, report=False, track=False)
    assert run.info["fast_path"]["precision"] == "mixed_bfloat16"
    assert {layer.compute_dtype for layer in run.model.layers} == {"float32"}
    assert run.metrics["test_accuracy"] > 0.6
    assert keras.mixed_precision.global_policy().name == "float32"
