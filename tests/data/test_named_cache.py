"""The decoded-array cache of the named datasets: hits, misses on a changed file, damaged entries,
switched off, and split indices identical to scikit-learn's."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kerasforge.data.idx import read_idx
from kerasforge.data.named_cache import cache_dir, cached_array
from kerasforge.data.split import stratified_split

LABELS = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def idx_file(tmp_path: Path) -> Path:
    if not LABELS.is_file():
        pytest.skip(f"{LABELS} is not here")
    copy = tmp_path / LABELS.name
    shutil.copy(LABELS, copy)
    return copy


def counting(calls: list):
    def decode(path: Path) -> np.ndarray:
        calls.append(path)
        return read_idx(path)
    return decode


def test_a_decoded_file_is_read_back_from_the_cache_until_it_changes(idx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    calls: list = []
    first = cached_array(idx_file, counting(calls))
    second = cached_array(idx_file, counting(calls))
    assert len(calls) == 1 and np.array_equal(first, second) and second.shape == (10_000,)
    assert len(list((tmp_path / "cache" / "arrays").glob("*.npy"))) == 1

    shutil.copy(LABELS, idx_file)  # the same bytes, a new modification time: decoded again
    import os
    os.utime(idx_file, ns=(1, 1))
    cached_array(idx_file, counting(calls))
    assert len(calls) == 2


def test_a_damaged_cache_entry_is_decoded_again(idx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    calls: list = []
    expected = cached_array(idx_file, counting(calls))
    (entry,) = (tmp_path / "cache" / "arrays").glob("*.npy")
    entry.write_bytes(b"garbage")
    assert np.array_equal(cached_array(idx_file, counting(calls)), expected) and len(calls) == 2


def test_the_cache_can_be_switched_off(idx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("KFORGE_CACHE_DIR", "off")
    assert cache_dir() is None
    calls: list = []
    cached_array(idx_file, counting(calls))
    cached_array(idx_file, counting(calls))
    assert len(calls) == 2


def test_cached_split_indices_are_scikit_learns(tmp_path, monkeypatch):
    y = np.random.default_rng(0).integers(0, 10, size=5_000)
    monkeypatch.setenv("KFORGE_CACHE_DIR", "off")
    plain = stratified_split(y, 0.1, seed=3)
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    stored, hit = stratified_split(y, 0.1, seed=3), stratified_split(y, 0.1, seed=3)
    assert list((tmp_path / "cache" / "arrays").glob("stratified_split-*.npz"))
    for a, b in ((plain, stored), (plain, hit)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(stratified_split(y, 0.1, seed=4)[1], plain[1])  # another seed, another key
