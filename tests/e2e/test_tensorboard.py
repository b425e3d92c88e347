"""TensorBoard from a recipe: event files in the run folder that TensorBoard's own reader can read."""

from __future__ import annotations

from pathlib import Path

import pytest

EPOCHS = 3
RECIPE = {
    "name": "digits_tensorboard",
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": EPOCHS, "batch_size": 64, "optimizer": {"type": "adam", "learning_rate": 0.01},
              "callbacks": [{"type": "TensorBoard", "histogram_freq": 1}]},
}


@pytest.fixture(scope="module")
def tensorboard_dir(tmp_path_factory) -> Path:
    import kerasforge

    run = kerasforge.train(RECIPE, output_dir=tmp_path_factory.mktemp("tb") / "runs", show_summary=False)
    return run.path / "tensorboard"


def load(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0, "histograms": 0,
                                                               "images": 0, "compressedHistograms": 0})
    return accumulator.Reload()


def scalar_series(accumulator, tag: str) -> dict[int, float]:
    """step -> value, whether the summary was written as a v1 scalar or a v2 tensor."""
    import tensorflow as tf

    tags = accumulator.Tags()
    if tag in tags.get("scalars", []):
        return {e.step: e.value for e in accumulator.Scalars(tag)}
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)}


@pytest.mark.parametrize("split", ["train", "validation"])
def test_loss_and_accuracy_for_every_epoch(tensorboard_dir, split):
    assert (tensorboard_dir / split).is_dir(), list(tensorboard_dir.iterdir())
    accumulator = load(tensorboard_dir / split)
    for tag in ("epoch_loss", "epoch_accuracy"):
        series = scalar_series(accumulator, tag)
        assert sorted(series) == list(range(EPOCHS)), (tag, series)
        assert all(v == v and v >= 0 for v in series.values())  # finite, non-negative
    losses = scalar_series(accumulator, "epoch_loss")
    assert losses[EPOCHS - 1] < losses[0]  # it learned
    accuracy = scalar_series(accumulator, "epoch_accuracy")
    assert 0.5 < accuracy[EPOCHS - 1] <= 1.0


def test_weight_histograms_every_epoch_when_asked(tensorboard_dir):
    import tensorflow as tf

    accumulator = load(tensorboard_dir / "train")
    tags = accumulator.Tags()
    # Keras 3 writes the weight histograms as v2 tensors tagged like "dense/kernel/histogram"
    histogram_tags = [t for t in tags.get("histograms", []) + tags.get("tensors", []) if "/" in t]
    kernels = [t for t in histogram_tags if "kernel" in t]
    assert len(kernels) == 2, tags  # both Dense layers
    tag = kernels[0]
    if tag in tags.get("histograms", []):
        events = accumulator.Histograms(tag)
        assert sorted(e.step for e in events) == list(range(EPOCHS))
    else:
        events = accumulator.Tensors(tag)
        assert sorted(e.step for e in events) == list(range(EPOCHS))
        buckets = tf.make_ndarray(events[0].tensor_proto)
        assert buckets.ndim == 2 and buckets.shape[1] == 3 and buckets[:, 2].sum() > 0  # (left, right, count)
