"""Rows read raw and scaled per batch: the same values as scaling the whole array, never a float32 copy."""

from __future__ import annotations

import numpy as np

from kerasforge.data.host_scaling import ScaledRows
from kerasforge.data.scaling import scale_batch
from kerasforge.data.stream import EpochBatches


def test_rows_read_from_a_memory_mapped_split_come_out_scaled(tmp_path):
    raw = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", raw)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    pre = {"offset": [10.0, 20.0, 30.0], "divisor": [2.0, 4.0, 8.0]}
    rows = ScaledRows(mapped, pre["offset"], pre["divisor"], (4, 4, 3))
    whole = scale_batch(raw, pre)
    assert rows.nbytes == raw.nbytes and rows.dtype == np.float32 and len(rows) == 10
    np.testing.assert_allclose(rows[3], whole[3], rtol=1e-6)
    np.testing.assert_allclose(rows[2:7:2], whole[2:7:2], rtol=1e-6)
    np.testing.assert_allclose(rows[np.array([9, 0, 4])], whole[[9, 0, 4]], rtol=1e-6)
    np.testing.assert_allclose(rows[np.arange(10) % 3 == 0], whole[::3], rtol=1e-6)


def test_a_flattened_layout_keeps_its_per_channel_values():
    """fit_features flattens (4, 4, 3) images for a Dense input: the channels are still scaled apart."""
    raw = np.random.default_rng(1).integers(0, 256, (5, 4, 4, 3)).astype(np.uint8)
    pre = {"offset": [10.0, 20.0, 30.0], "divisor": [2.0, 4.0, 8.0]}
    rows = ScaledRows(raw.reshape(5, 48), pre["offset"], pre["divisor"], (4, 4, 3))
    assert rows.shape == (5, 48)
    np.testing.assert_allclose(rows[:], scale_batch(raw, pre).reshape(5, 48), rtol=1e-6)


def test_the_streaming_source_reads_batches_scaled():
    raw = np.arange(6 * 2 * 2 * 1, dtype=np.uint8).reshape(6, 2, 2, 1)
    source = EpochBatches(ScaledRows(raw, [0.0], [255.0], (2, 2, 1)), np.arange(6), 4, seed=0, shuffle=True)
    x, y = source[0]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, raw[y].astype(np.float32) / 255.0, rtol=1e-6)


def test_a_models_own_normalization_adapts_to_the_scaled_rows_batch_by_batch():
    import keras

    raw = np.random.default_rng(3).integers(0, 256, (2500, 2, 2, 1)).astype(np.uint8)
    layer = keras.layers.Normalization(axis=-1)
    layer.adapt(ScaledRows(raw, [0.0], [255.0], (2, 2, 1)))  # Keras took only arrays or batches: a TypeError before
    scaled = raw.astype(np.float64) / 255.0
    np.testing.assert_allclose(np.ravel(layer.mean), [scaled.mean()], rtol=1e-4)
    np.testing.assert_allclose(np.ravel(layer.variance), [scaled.var()], rtol=1e-3)
