"""Making one class rare in the training split."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.data import load_dataset
from kerasforge.data.imbalance import make_rare
from kerasforge.errors import DataError
from kerasforge.recipe import DataSpec


def test_one_class_becomes_rare_and_the_test_split_stays():
    ds = load_dataset(DataSpec(dataset="digits"), seed=0)
    before_test = ds.y_test.copy()
    counts = np.bincount(ds.y_train)
    make_rare(ds, class_id=3, fraction=0.05, seed=0)
    after = np.bincount(ds.y_train, minlength=10)
    assert after[3] == round(counts[3] * 0.05)
    assert all(after[c] == counts[c] for c in range(10) if c != 3)
    assert len(ds.x_train) == len(ds.y_train)
    np.testing.assert_array_equal(ds.y_test, before_test)
    assert "rare" in ds.notes[-1]


def test_unknown_class_is_an_error():
    ds = load_dataset(DataSpec(dataset="digits", subset=100), seed=0)
    with pytest.raises(DataError, match="class 12"):
        make_rare(ds, class_id=12, fraction=0.1, seed=0)
