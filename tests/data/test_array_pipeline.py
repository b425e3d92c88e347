"""Host-scaled data kept in memory and fed by tf.data: the same batches, in the same order, as the streaming
path (so the same losses, and a resumed run the same as a whole one), with no Python per batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.console import set_quiet
from kerasforge.data import array_pipeline
from kerasforge.data.array_pipeline import InMemoryBatches, chunked_batches, fit_in_memory, supported
from kerasforge.data.host_scaling import ScaledRows
from kerasforge.data.stream import EpochBatches, fit_streamed

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's")


def rows(n: int, shape: tuple, seed: int, offset=(10.0, 20.0, 30.0), divisor=(2.0, 4.0, 8.0)) -> ScaledRows:
    raw = np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.uint8)
    return ScaledRows(raw, list(offset), list(divisor), shape)


def batches(source: EpochBatches, epoch: int) -> list:
    source.epoch = epoch
    return [source[i] for i in range(len(source))]


def assert_same(ours, theirs) -> None:
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key])
        return
    ours = ours.numpy() if hasattr(ours, "numpy") else ours
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)  # bit for bit: same rows, same float32 arithmetic


@pytest.mark.parametrize("feed", ["tf.data", "chunks"])
@pytest.mark.parametrize("case", ["one input", "named inputs and outputs", "class weights", "shard of two"])
def test_every_batch_of_every_epoch_is_the_streaming_sources(case: str, feed: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    n, y = 23, np.arange(23) % 5
    x = rows(n, (4, 4, 3), 0)
    kwargs: dict = {}
    if case == "named inputs and outputs":
        x = {"image": rows(n, (4, 4, 3), 1).raw.reshape(n, 48), "side": rows(n, (6,), 2, [1.0], [3.0])}
        x["image"] = ScaledRows(x["image"], [10.0, 20.0, 30.0], [2.0, 4.0, 8.0], (4, 4, 3))  # flattened layout
        y = {"digit": y, "parity": (y % 2).astype(np.float32)}
    if case == "class weights":
        kwargs["sample_weight"] = np.where(y == 3, 4.0, 1.0).astype(np.float32)
    if case == "shard of two":
        kwargs.update(shard=(1, 2), multiple=2)
    assert supported(x, y)
    source = EpochBatches(x, y, 4, seed=7, shuffle=True, **kwargs)
    if feed == "tf.data":
        if keras.backend.backend() != "tensorflow":
            pytest.skip("the tf.data feed is TensorFlow's")
        ours_feed = InMemoryBatches(x, y, 4, seed=7, shuffle=True, **kwargs)
        read = ours_feed.dataset().__iter__
    else:
        monkeypatch.setattr(array_pipeline, "CHUNK", 2)  # several chunks, the last one short
        ours_feed = chunked_batches(x, y, 4, seed=7, shuffle=True, **kwargs)

        def read():
            return (ours_feed[i] for i in range(len(ours_feed)))
    assert len(ours_feed) == len(source)
    for epoch in (0, 2, 1):
        ours_feed.set_epoch(epoch)
        ours, theirs = list(read()), batches(source, epoch)
        assert len(ours) == len(theirs)
        for got, want in zip(ours, theirs, strict=True):
            assert len(got) == len(want)
            for a, b in zip(got, want, strict=True):
                assert_same(a, b)


def test_what_it_does_not_take_streams() -> None:
    x = rows(4, (2,), 0, [0.0], [1.0])
    assert not supported(x.raw, np.arange(4))  # not host-scaled: the array path has its own feed
    assert not supported({"a": x, "b": x.raw}, np.arange(4))


class Tiny(keras.Model):
    """A subclassed model: it cannot take the scaling layer, so its pixels are host-scaled."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.flat, self.hidden, self.head = (keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                                             keras.layers.Dense(3, activation="softmax"))

    def call(self, inputs, training=False):
        return self.head(self.hidden(self.flat(inputs)))


def model(weights=None) -> keras.Model:
    keras.utils.set_random_seed(0)
    tiny = Tiny()
    tiny.build((None, 4, 4, 3))
    if weights is not None:
        tiny.set_weights(weights)
    # SGD: its steps do not depend on the optimizer's step count, which Keras' Grain feed on TensorFlow
    # advances once more per epoch than there are batches (an end-of-data call); Adam's would differ there
    tiny.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return tiny


@tensorflow_only
def test_training_has_the_streaming_losses_and_a_resumed_run_the_whole_ones() -> None:
    set_quiet(True)
    scale = ([127.5], [127.5])  # inputs in [-1, 1]: a well-conditioned run, so round-off stays round-off
    x, y = rows(96, (4, 4, 3), 3, *scale), np.random.default_rng(4).integers(0, 3, 96)
    val = (rows(24, (4, 4, 3), 5, *scale), np.random.default_rng(6).integers(0, 3, 24))
    args = dict(validation_data=val, batch_size=16, shuffle=True, class_weight={0: 2.0}, verbose=0, seed=11)
    start = model().get_weights()
    losses = {}
    for name, fit in (("streamed", fit_streamed), ("in memory", fit_in_memory)):
        trained = model(start)
        history = fit(trained, x, y, epochs=2, initial_epoch=0, callbacks=[], **args).history
        losses[name] = (history["loss"], history["val_loss"])
    np.testing.assert_allclose(losses["in memory"], losses["streamed"], rtol=1e-5)
    assert int(trained.optimizer.iterations.numpy()) == 2 * 96 // 16  # one optimizer step per batch

    resumed = model(start)  # stopped after epoch 0, then on from epoch 1 (the optimizer state kept)
    first = fit_in_memory(resumed, x, y, epochs=1, initial_epoch=0, callbacks=[], **args).history
    second = fit_in_memory(resumed, x, y, epochs=2, initial_epoch=1, callbacks=[], **args).history
    np.testing.assert_allclose([first["loss"][0], second["loss"][0]], losses["in memory"][0], rtol=1e-5)
