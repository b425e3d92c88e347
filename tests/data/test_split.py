"""Stratified splits, subsets and validation carving."""

from __future__ import annotations

import numpy as np

from kerasforge.data import Dataset, load_dataset, split_validation
from kerasforge.data.split import Picker, stratified_split, subset_indices
from kerasforge.recipe import DataSpec

Y = np.array([0] * 600 + [1] * 300 + [2] * 100)


def test_stratified_split_keeps_proportions() -> None:
    keep, carved = stratified_split(Y, 0.2, seed=0)
    assert len(carved) == 200 and np.bincount(Y[carved]).tolist() == [120, 60, 20]
    assert len(set(keep) | set(carved)) == 1000 and not set(keep) & set(carved)


def test_subset_is_stratified_deterministic_and_complete_when_large() -> None:
    a, b, c = subset_indices(Y, 100, seed=1), subset_indices(Y, 100, seed=1), subset_indices(Y, 100, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(Y[a]).tolist() == [60, 30, 10]
    assert np.array_equal(subset_indices(Y, 5000, seed=1), np.arange(1000))


def test_picker_notes_and_tiny_subsets() -> None:
    picker = Picker(2, seed=0)
    index = picker.pick(Y, "train")  # fewer than the classes: falls back to a random choice
    assert len(index) == 2 and len(picker.notes) == 1
    assert picker.notes[0].endswith("subset of 2 of 1000 training examples")


def test_subset_of_each_split() -> None:
    ds = load_dataset(DataSpec(dataset="digits", subset=100, test_split=0.5), seed=0)
    assert ds.sizes() == {"train": 100, "validation": 0, "test": 100}
    counts = np.bincount(ds.y_train, minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11


def test_split_validation_stratified_with_dict_features() -> None:
    x = {"a": np.arange(1000)[:, None].astype(np.float32), "b": np.zeros((1000, 3), np.float32)}
    ds = Dataset("toy", x, Y, {"a": np.zeros((2, 1)), "b": np.zeros((2, 3))}, np.array([0, 1]), ["p", "q", "r"])
    out = split_validation(ds, 0.1, seed=0)
    assert out.sizes() == {"train": 900, "validation": 100, "test": 2}
    assert np.bincount(out.y_val).tolist() == [60, 30, 10]
    assert np.array_equal(Y[out.x_val["a"][:, 0].astype(int)], out.y_val)  # rows stay aligned with labels
    assert ds.x_val is None  # the input is not changed
    assert split_validation(out, 0.5, seed=0) is out
    assert split_validation(ds, 0.0, seed=0) is ds


def test_split_validation_regression() -> None:
    y = np.linspace(0, 1, 50).astype(np.float32)
    ds = Dataset("r", np.zeros((50, 2)), y, np.zeros((5, 2)), y[:5], ["target"], task="regression")
    assert split_validation(ds, 0.2, seed=0).sizes()["validation"] == 10
