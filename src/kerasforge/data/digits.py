"""``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, no download ever needed).

Example:
    >>> raw = load_digits_dataset(test_split=0.2, picker=Picker(None, seed=0))
    >>> raw.dataset.x_train.shape, raw.pixel_max
    ((1438, 8, 8, 1), 16.0)
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .source import DIGIT_CLASSES, Loaded
from .split import Picker


def load_digits_dataset(test_split: float, picker: Picker) -> Loaded:
    """The digits as images (N, 8, 8, 1) with values 0..16 and a stratified test split."""
    from sklearn.datasets import load_digits  # here: importing scikit-learn takes a second

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    train, test = picker.carve_test(y, test_split)
    tr = train[picker.pick(y[train], "train")]
    te = test[picker.pick(y[test], "test")]
    ds = Dataset("digits", x[tr], y[tr], x[te], y[te], list(DIGIT_CLASSES), source="sklearn.datasets.load_digits")
    return Loaded(ds, pixel_max=16.0)
