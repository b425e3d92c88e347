"""Streaming batches: per-(seed, epoch) permutations, shards, reads from the memory-mapped cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasforge.data.stream import EpochBatches, RowReader, class_sample_weights, epoch_order, grain_dataset


def test_epoch_order_is_a_seeded_permutation() -> None:
    a0, a1 = epoch_order(100, 7, 0, True), epoch_order(100, 7, 1, True)
    assert sorted(a0.tolist()) == list(range(100)) and a0.tolist() != a1.tolist()
    assert epoch_order(100, 7, 1, True).tolist() == a1.tolist()  # a resumed run: same epoch, same order
    assert epoch_order(100, 8, 0, True).tolist() != a0.tolist()
    assert epoch_order(5, 7, 0, False).tolist() == [0, 1, 2, 3, 4]


def test_shards_split_each_epoch() -> None:
    parts = [epoch_order(101, 3, 2, True, (i, 2)) for i in range(2)]
    assert len(parts[0]) == len(parts[1]) == 50 and not set(parts[0]) & set(parts[1])


def test_reader_preads_memmapped_rows(tmp_path: Path) -> None:
    x = np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    reader = RowReader(mm)
    assert reader.file is not None
    np.testing.assert_array_equal(reader.read(np.array([1, 4, 5])), x[[1, 4, 5]])
    flat = RowReader(mm.reshape(6, -1))  # fitted to a flat model input: still read from the file
    np.testing.assert_array_equal(flat.read(np.array([2])), x[[2]].reshape(1, -1))


def test_batches_cover_the_epoch_through_grain(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(50, dtype=np.uint8).reshape(50, 1))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(50) % 2
    src = EpochBatches(x, y, 8, seed=1, shuffle=True, sample_weight=class_sample_weights(y, {0: 1.0, 1: 3.0}))
    seen = []
    for bx, by, bw in grain_dataset(src):
        assert (bx[:, 0] % 2 == by).all() and np.allclose(bw, np.where(by == 1, 3.0, 1.0))
        seen += bx[:, 0].tolist()
    assert sorted(seen) == list(range(50)) and len(src) == 7
    first_batch = sorted(src[0][0][:, 0].tolist())
    src.epoch = 1
    assert sorted(src[0][0][:, 0].tolist()) != first_batch


def test_each_process_streams_its_shard(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(40, dtype=np.uint8).reshape(40, 1))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = [sorted(v for b in range(len(s)) for v in s[b][0][:, 0].tolist())
            for s in (EpochBatches(x, np.zeros(40), 4, seed=2, shuffle=True, shard=(p, 2)) for p in range(2))]
    assert len(rows[0]) == len(rows[1]) == 20 and sorted(rows[0] + rows[1]) == list(range(40))


def test_shards_are_slices_of_the_one_process_order() -> None:
    """Batch i of two processes (batch 4 each) together is batch i (of 8) of the one-process run, every
    epoch: the union is the whole epoch, in the same order; each shard is a multiple of its devices."""
    x, y = np.arange(43).reshape(43, 1), np.arange(43)
    whole = EpochBatches(x, y, 8, seed=5, shuffle=True)
    parts = [EpochBatches(x, y, 4, seed=5, shuffle=True, shard=(p, 2), multiple=2) for p in range(2)]
    for epoch in (0, 3):
        for src in (whole, *parts):
            src.epoch = epoch
        assert len(parts[0].order(epoch)) == len(parts[1].order(epoch)) == 20  # 43 // (2 * 2) * 2
        for i in range(len(parts[0])):
            together = sorted(parts[0][i][1].tolist() + parts[1][i][1].tolist())
            assert together == sorted(whole[i][1].tolist())
    assert epoch_order(43, 5, 0, True, (0, 2), 2).tolist() != epoch_order(43, 5, 1, True, (0, 2), 2).tolist()


def test_a_streamed_fit_takes_one_optimizer_step_per_batch_as_the_batches_say() -> None:
    """Two streamed epochs at one step per call equal training batch by batch on the same (seed, epoch)
    batches: same weights and ``optimizer.iterations`` (Keras' TensorFlow trainer counted an extra step at the
    end of each epoch of unknown length, so Adam drifted from the second epoch on)."""
    import keras

    from kerasforge.data.stream import fit_streamed

    x = np.random.default_rng(0).normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", steps_per_execution=1)
        return m

    streamed, by_hand = model(), model()
    fit_streamed(streamed, x, y, validation_data=None, epochs=2, initial_epoch=0, batch_size=16, shuffle=True,
                 class_weight=None, callbacks=[], verbose=0, seed=3)
    source = EpochBatches(x, y, 16, seed=3, shuffle=True)
    for epoch in range(2):
        source.epoch = epoch
        for i in range(len(source)):
            by_hand.train_on_batch(*source[i])
    assert int(streamed.optimizer.iterations.numpy()) == int(by_hand.optimizer.iterations.numpy()) == 12
    for a, b in zip(streamed.get_weights(), by_hand.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
