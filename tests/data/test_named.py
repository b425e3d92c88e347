"""Named datasets from the real files in ../shared/data, Debian's Fashion-MNIST, and Keras' cache layouts."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from kerasforge.data import DatasetNotFoundError, load_dataset
from kerasforge.errors import DataError
from kerasforge.recipe import DataSpec

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def _balanced(y: np.ndarray, classes: int) -> None:
    counts = np.bincount(y, minlength=classes)
    assert counts.min() >= counts.max() - 1, counts


# ---------------------------------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------------------------------
def test_mnist_from_shared_npz(shared_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="mnist", subset=1000), seed=0)
    assert ds.source == str(shared_env / "mnist.npz")
    assert ds.x_train.shape == (1000, 28, 28, 1) and ds.x_test.shape == (1000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.x_train.min() >= 0.0 and ds.x_train.max() == 1.0
    assert ds.class_names == [str(i) for i in range(10)]
    assert any("stratified subset of 1000 of 60000 training" in n for n in ds.notes)
    assert abs(np.bincount(ds.y_train, minlength=10)[1] - 112) <= 2  # MNIST has 11.2 % ones


def test_cifar10_from_jpeg_pack_is_shuffled_and_stratified(shared_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="cifar10", subset=500), seed=3)
    assert ds.x_train.shape == (500, 32, 32, 3) and ds.y_test.shape == (500,)
    assert ds.class_names[0] == "airplane" and len(ds.class_names) == 10
    _balanced(ds.y_train, 10)
    assert len(set(ds.y_train[:20].tolist())) > 3  # the pack is sorted by class: order must be shuffled
    assert 0.3 < ds.x_train.mean() < 0.7  # real photos, decoded


def test_cifar10_full_pack_decodes_every_image(shared_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="cifar10", normalize="none"), seed=0)
    assert ds.sizes() == {"train": 50000, "validation": 0, "test": 10000}
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.x_test.max() == 255.0 and len(set(ds.y_train[:10].tolist())) > 1


def test_imdb_from_raw_reviews_archive(shared_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="imdb", subset=200, num_words=1000, maxlen=80), seed=0)
    assert ds.task == "binary" and ds.class_names == ["negative", "positive"]
    assert ds.x_train.shape == (200, 80) and ds.x_train.dtype == np.int32
    assert np.bincount(ds.y_train).tolist() == [100, 100]
    assert ds.x_train.max() < 1000 and (ds.x_train == 2).any()  # OOV ids for rare words
    short = ds.x_train[(ds.x_train == 0).any(axis=1)]
    assert len(short) and all(row[np.argmax(row != 0)] == 1 for row in short)  # padded in front, then start
    assert ds.source.endswith("aclImdb.tar.gz")
    index = ds.preprocessing["word_index"]
    assert index["the"] == 1 and max(index.values()) == 1000 - 4  # ids rank + 3 stay below num_words


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_system_folder(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFORGE_SYSTEM_DATASETS", str(FASHION_SYSTEM.parent))
    ds = load_dataset(DataSpec(dataset="fashion_mnist", subset=300), seed=0)
    assert ds.source == str(FASHION_SYSTEM)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.x_train.shape == (300, 28, 28, 1)
    _balanced(ds.y_train, 10)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_via_explicit_path(bare_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="fashion_mnist", path=str(FASHION_SYSTEM), subset=100,
                               image_size=(32, 32), color_mode="rgb"), seed=0)
    assert ds.x_train.shape == (100, 32, 32, 3) and ds.source == str(FASHION_SYSTEM)
    assert np.allclose(ds.x_train[..., 0], ds.x_train[..., 2])  # gray replicated into three channels
    one_file = FASHION_SYSTEM / "train-images-idx3-ubyte.gz"
    assert load_dataset(DataSpec(dataset="fashion_mnist", path=str(one_file), subset=50)).source == str(FASHION_SYSTEM)


def test_mnist_from_shared_npz_via_path_is_deterministic(shared_data: Path, bare_env: Path) -> None:
    spec = DataSpec(dataset="mnist", path=str(shared_data / "mnist.npz"), subset=200)
    a, b, c = load_dataset(spec, seed=5), load_dataset(spec, seed=5), load_dataset(spec, seed=6)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


# ---------------------------------------------------------------------------------------------------
# Keras' cache layouts, built small in a temp dir
# ---------------------------------------------------------------------------------------------------
def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _images(n: int, shape: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def test_fashion_mnist_from_keras_cache(bare_env: Path) -> None:
    folder = bare_env / "fashion-mnist"
    folder.mkdir()
    (x, y), (xt, yt) = _images(40, (28, 28)), _images(20, (28, 28), seed=1)
    _write_idx(folder / "train-images-idx3-ubyte.gz", x)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", xt)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt)
    ds = load_dataset(DataSpec(dataset="fashion_mnist", normalize="none"))
    assert ds.source == str(folder)
    assert np.array_equal(ds.x_train[..., 0], x.astype(np.float32)) and np.array_equal(ds.y_test, yt)


def test_mnist_from_keras_cache(bare_env: Path) -> None:
    (x, y), (xt, yt) = _images(30, (28, 28)), _images(10, (28, 28), seed=2)
    np.savez(bare_env / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    ds = load_dataset(DataSpec(dataset="mnist", normalize="none"))
    assert ds.source == str(bare_env / "mnist.npz")
    assert np.array_equal(ds.x_test[..., 0], xt) and ds.y_train.tolist() == y.tolist()


def _write_cifar_batches(folder: Path) -> np.ndarray:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name, n in [*((f"data_batch_{i}", 20) for i in range(1, 6)), ("test_batch", 20)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": [i % 10 for i in range(n)], b"data": data}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"a0", b"a1", b"a2", b"a3", b"a4", b"a5", b"a6", b"a7", b"a8", b"a9"]}, f)
    return first  # type: ignore[return-value]


@pytest.mark.parametrize("layout", ["cifar-10-batches-py", "cifar-10-batches-py-target_extracted/cifar-10-batches-py"])
def test_cifar10_from_keras_cache_batches(bare_env: Path, layout: str) -> None:
    first = _write_cifar_batches(bare_env / layout)
    ds = load_dataset(DataSpec(dataset="cifar10", normalize="none"), seed=0)
    assert ds.source == str(bare_env / layout)
    assert ds.sizes()["train"] == 100 and ds.x_train.shape[1:] == (32, 32, 3)
    assert ds.class_names[0] == "a0"
    # Keras' layout is channels-first rows: image 0 of batch 1 must come back (H, W, C).
    expected = first[0].reshape(3, 32, 32).transpose(1, 2, 0).astype(np.float32)
    assert any(np.array_equal(img, expected) for img in ds.x_train)


def test_imdb_from_keras_cache_npz(bare_env: Path) -> None:
    x_train = np.empty(4, dtype=object)
    x_train[:] = [[1, 5, 2], [7, 8], [3], [1, 1, 1, 1, 1, 1]]
    x_test = np.empty(2, dtype=object)
    x_test[:] = [[4, 4], [9000]]
    np.savez(bare_env / "imdb.npz", x_train=x_train, y_train=np.array([0, 1, 0, 1]), x_test=x_test,
             y_test=np.array([1, 0]))
    (bare_env / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2}))
    ds = load_dataset(DataSpec(dataset="imdb", num_words=10, maxlen=4), seed=0)
    assert ds.source == str(bare_env / "imdb.npz")
    rows = {tuple(r) for r in ds.x_train.tolist()}
    # start 1, ranks + 3, ranks whose id reaches num_words become 2, padded/truncated at the front to 4.
    assert rows == {(1, 4, 8, 5), (0, 1, 2, 2), (0, 0, 1, 6), (4, 4, 4, 4)}
    assert {tuple(r) for r in ds.x_test.tolist()} == {(0, 1, 7, 7), (0, 0, 1, 2)}


# ---------------------------------------------------------------------------------------------------
# Not found, fallback
# ---------------------------------------------------------------------------------------------------
def test_offline_not_found_lists_every_place(bare_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KFORGE_DATA_DIR", str(tmp_path / "mine"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(DataSpec(dataset="fashion_mnist"))
    msg = str(info.value)
    for place in (tmp_path / "mine", tmp_path / "system" / "fashion-mnist", tmp_path / "system" / "fashion_mnist",
                  bare_env):
        assert str(place) in msg
    assert "KFORGE_OFFLINE" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "data.path" in msg and "\n" not in msg
    assert isinstance(info.value, DataError)


def test_wrong_explicit_path_is_not_found(bare_env: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="data.path"):
        load_dataset(DataSpec(dataset="mnist", path=str(tmp_path / "nothing-here")))


def test_fallback_to_digits_says_so(bare_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="fashion_mnist", fallback="digits", subset=100), seed=0)
    assert ds.name == "digits" and ds.x_train.shape == (100, 8, 8, 1)
    assert ds.notes[0].startswith("Fashion-MNIST was not found (searched: ")
    assert "using the bundled digits dataset" in ds.notes[0] and str(bare_env) in ds.notes[0]
