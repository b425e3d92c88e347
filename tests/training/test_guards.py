"""Guards around fit: a real out-of-memory error from TensorFlow is retried with half the batch size, and
out-of-memory errors of every backend are recognised by name and message."""

from __future__ import annotations

import json
import math

import keras
import pytest
import tensorflow as tf

import kerasforge
from kerasforge.training.guards import fit_with_oom_retry, is_out_of_memory

MAX_BATCH = 64  # the pretend device holds at most this many examples per batch


class OutOfMemoryAboveBatch(keras.callbacks.Callback):
    """Raises TensorFlow's real ResourceExhaustedError on the first batch when the batch is too big."""

    def __init__(self, train_examples: int) -> None:
        super().__init__()
        self.train_examples = train_examples
        self.raised = 0

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self.params["steps"] < math.ceil(self.train_examples / MAX_BATCH):
            self.raised += 1
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[256,64]")


def test_out_of_memory_is_retried_with_half_the_batch(tmp_path):
    recipe = {"name": "oom", "data": {"dataset": "digits"},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"epochs": 2, "batch_size": 256, "verbose": 0}}
    guard = OutOfMemoryAboveBatch(train_examples=1294)  # digits: 1294 training examples after the splits
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, callbacks=[guard])
    info = json.loads((run.path / "run.json").read_text())
    assert guard.raised == 2 and info["status"] == "finished" and info["batch_size"] == 64
    assert [r["new_batch_size"] for r in info["oom_retries"]] == [128, 64]
    assert "ResourceExhaustedError" in info["oom_retries"][0]["error"]
    assert run.history["epoch"] == [1, 2] and run.metrics["test_accuracy"] > 0.2  # chance is 0.1
    findings = json.loads((run.path / "diagnosis.json").read_text())["findings"]
    oom = next(f for f in findings if f["code"] == "out_of_memory")
    assert "256 -> 128 -> 64" in oom["evidence"] and "batch_size: 64" in oom["fix"]


class XlaRuntimeError(RuntimeError):
    """Named like jaxlib's error (jax is not installed here); recognised by name and message."""


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError (torch is not installed here)."""


def test_out_of_memory_errors_of_every_backend_are_recognised():
    assert is_out_of_memory(tf.errors.ResourceExhaustedError(None, None, "OOM"))
    assert is_out_of_memory(XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 1.2GiB"))
    assert is_out_of_memory(OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(XlaRuntimeError("INVALID_ARGUMENT: shapes differ"))
    assert not is_out_of_memory(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes"))
    try:
        try:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM")
        except tf.errors.ResourceExhaustedError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert is_out_of_memory(outer)


def test_retry_gives_up_below_the_smallest_batch_and_passes_other_errors():
    def always_oom(batch_size):
        raise tf.errors.ResourceExhaustedError(None, None, f"OOM at {batch_size}")

    with pytest.raises(tf.errors.ResourceExhaustedError, match="OOM at 8"):
        fit_with_oom_retry(always_oom, 32, min_batch_size=8)
    seen = []
    with pytest.raises(ValueError):
        fit_with_oom_retry(lambda bs: seen.append(bs) or (_ for _ in ()).throw(ValueError("bad")), 32)
    assert seen == [32]


def test_non_finite_guard_records_where_it_stopped():
    import numpy as np

    from kerasforge.training.guards import NonFiniteLossGuard

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
    x = np.full((64, 2), 1e10, dtype="float32")
    guard = NonFiniteLossGuard()
    model.fit(x, np.ones(64, dtype="float32"), epochs=3, batch_size=8, verbose=0, callbacks=[guard])
    assert guard.stopped is not None and guard.stopped["epoch"] == 1 and guard.stopped["reason"] == "non_finite_loss"
    assert guard.stopped["loss"] in {"nan", "inf"}
