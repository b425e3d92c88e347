"""Colour modes, resizing, normalisation from training statistics, image views."""

from __future__ import annotations

import numpy as np

from kerasforge.data import Dataset, load_dataset
from kerasforge.data.preprocess import convert_color, normalize, resize_images
from kerasforge.recipe import DataSpec


def test_convert_color_roundtrips() -> None:
    rgb = np.zeros((1, 1, 2, 3), np.uint8)
    rgb[0, 0, 0] = (255, 0, 0)
    rgb[0, 0, 1] = (0, 0, 255)
    gray = convert_color(rgb, "grayscale", full=255)
    assert gray.shape == (1, 1, 2, 1) and gray[0, 0, :, 0].tolist() == [76, 29]  # as PIL's convert("L")
    rgba = convert_color(gray, "rgba", full=255)
    assert rgba[0, 0, 0].tolist() == [76, 76, 76, 255]
    assert convert_color(rgba, "rgb", full=255).shape[-1] == 3


def test_resize_uint8_and_float() -> None:
    x = np.zeros((2, 4, 4, 1), np.uint8)
    x[:, :, 2:] = 200
    out = resize_images(x, (8, 2))
    assert out.shape == (2, 8, 2, 1) and out.dtype == np.uint8 and out[0, 0, 1, 0] > 100
    flt = resize_images(np.ones((1, 3, 3, 2), np.float32) * 7, (6, 6))
    assert flt.shape == (1, 6, 6, 2) and np.allclose(flt, 7)


def test_standardize_images_per_channel_from_train() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4, 4, 3)).astype(np.uint8)
    x[..., 1] //= 4
    ds = Dataset("t", x, np.zeros(50, int), x[:5] // 2, np.zeros(5, int), ["a"])
    normalize(ds, "standardize", 255)
    assert np.allclose(ds.x_train.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    assert np.allclose(ds.x_train.std(axis=(0, 1, 2)), 1, atol=1e-4)
    assert ds.x_test.mean() < -0.5 and ds.x_test.dtype == np.float32
    offset, divisor = np.asarray(ds.preprocessing["offset"]), np.asarray(ds.preprocessing["divisor"])
    assert offset.shape == (3,) and np.allclose((x[:5] // 2 - offset) / divisor, ds.x_test, atol=1e-5)


def test_digits_scale_and_none() -> None:
    scaled = load_dataset(DataSpec(dataset="digits", normalize="scale"), seed=0)
    assert scaled.x_train.max() == 1.0 and scaled.x_train.dtype == np.float32
    raw = load_dataset(DataSpec(dataset="digits", normalize="none"), seed=0)
    assert raw.x_train.max() == 16.0 and np.allclose(raw.x_train / 16, scaled.x_train)
    assert scaled.preprocessing["divisor"] == 16.0 and scaled.preprocessing["offset"] == 0.0


def test_image_views_by_slice_and_resize_and_color() -> None:
    ds = load_dataset(DataSpec(dataset="digits", views={"top": "0:32", "bottom": "32:64"}, subset=50), seed=0)
    assert ds.input_shape == {"top": (32,), "bottom": (32,)} and ds.kind == "tabular"
    big = load_dataset(DataSpec(dataset="digits", image_size=[16, 16], color_mode="rgb", subset=20), seed=0)
    assert big.x_train.shape == (20, 16, 16, 3) and 0.9 < big.x_train.max() <= 1.0
    assert any("resized images from 8x8 to 16x16" in n for n in big.notes)


def test_sequences_are_never_normalised() -> None:
    seq = np.array([[0, 1, 5], [1, 9, 9]], np.int32)
    ds = Dataset("s", seq, np.array([0, 1]), seq, np.array([0, 1]), ["n", "p"], task="binary")
    normalize(ds, "standardize")
    assert ds.x_train.dtype == np.int32 and ds.x_train.tolist() == seq.tolist()
