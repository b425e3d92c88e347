"""image_folder and text_folder: real archives from ../shared/data and small folders written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasforge.data import load_dataset
from kerasforge.data.archives import MARKER
from kerasforge.errors import DataError
from kerasforge.recipe import DataSpec


def _png_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (10, 12)) -> Path:
    """Class folders of solid-colour PNGs: class i is coloured (40 * (i + 1), 0, 0)."""
    for i, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            Image.new("RGB", size, (40 * (i + 1), k, 0)).save(root / name / f"{k}.png")
    return root


def test_cats_and_dogs_zip_extracts_once(shared_env: Path, extraction_cache: Path) -> None:
    spec = DataSpec(dataset="image_folder", path=str(shared_env / "cats_and_dogs_filtered.zip"),
                    image_size=(32, 32), subset=60)
    ds = load_dataset(spec, seed=0)
    assert ds.class_names == ["cats", "dogs"] and ds.task == "binary"
    assert ds.x_train.shape == (60, 32, 32, 3) and ds.x_test.shape == (60, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [30, 30]
    assert any("1000 test" in n for n in ds.notes)  # validation/ became the test split (no test/ folder)
    folders = [p for p in (extraction_cache / "extracted").iterdir() if p.name.startswith("cats_and_dogs")]
    assert len(folders) == 1
    marker = folders[0] / MARKER
    before = marker.stat().st_mtime_ns
    again = load_dataset(spec, seed=0)
    assert marker.stat().st_mtime_ns == before  # not extracted a second time
    assert np.array_equal(ds.x_train, again.x_train)


def test_text_folder_from_aclimdb_archive(shared_env: Path) -> None:
    ds = load_dataset(DataSpec(dataset="text_folder", path=str(shared_env / "aclImdb.tar.gz"), subset=40), seed=1)
    assert ds.class_names == ["neg", "pos"]  # README, imdb.vocab beside the class folders are ignored
    assert ds.x_train.shape == (40,) and ds.kind == "text"
    assert all(isinstance(t, str) and len(t) > 20 for t in ds.x_train)
    assert np.bincount(ds.y_test).tolist() == [20, 20]


def test_image_folder_of_pngs_with_carved_test_split(tmp_path: Path) -> None:
    root = _png_folder(tmp_path / "shapes", {"red": 10, "blue": 10, "green": 5})
    (root / "README.txt").write_text("ignored")
    ds = load_dataset(DataSpec(dataset="image_folder", path=str(root), image_size=[8, 8], test_split=0.2), seed=0)
    assert ds.class_names == ["blue", "green", "red"] and ds.task == "multiclass"
    assert ds.sizes() == {"train": 20, "validation": 0, "test": 5}
    assert np.bincount(ds.y_test).tolist() == [2, 1, 2]
    # colours survive: "blue" is class folder 1 in writing order -> red channel 80
    first_blue = ds.x_train[ds.y_train == 0][0]
    assert first_blue.shape == (8, 8, 3) and abs(first_blue[..., 0].mean() - 80 / 255) < 0.01


def test_image_folder_color_modes_and_default_size(tmp_path: Path) -> None:
    root = _png_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    gray = load_dataset(DataSpec(dataset="image_folder", path=str(root), color_mode="grayscale", test_split=0.3))
    assert gray.x_train.shape[1:] == (128, 128, 1)
    rgba = load_dataset(DataSpec(dataset="image_folder", path=str(root), color_mode="rgba", image_size=[4, 4],
                                 test_split=0.3))
    assert rgba.x_train.shape[1:] == (4, 4, 4) and np.all(rgba.x_train[..., 3] == 1.0)


def test_split_folders_train_validation_test(tmp_path: Path) -> None:
    for split, n in (("train", 4), ("validation", 2), ("test", 3)):
        _png_folder(tmp_path / "top" / "data" / split, {"x": n, "y": n})
    ds = load_dataset(DataSpec(dataset="image_folder", path=str(tmp_path / "top"), image_size=[4, 4]))
    assert ds.sizes() == {"train": 8, "validation": 4, "test": 6}


def test_small_text_folder(tmp_path: Path) -> None:
    for name, texts in {"spam": ["buy now", "cheap pills"], "ham": ["hello Bob", "see you", "lunch?"]}.items():
        (tmp_path / name).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / name / f"{i}.txt").write_bytes(t.encode() + (b"\xff" if i == 0 else b""))
    ds = load_dataset(DataSpec(dataset="text_folder", path=str(tmp_path), test_split=0.0), seed=0)
    assert sorted(ds.x_train.tolist()) == sorted(["buy now\ufffd", "cheap pills", "hello Bob\ufffd", "see you", "lunch?"])
    assert ds.sizes()["test"] == 0 and ds.class_names == ["ham", "spam"]


def test_tar_gz_of_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tarfile

    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    root = _png_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    with tarfile.open(tmp_path / "pets.tgz", "w:gz") as tf:
        tf.add(root, arcname="pets")
    ds = load_dataset(DataSpec(dataset="image_folder", path=str(tmp_path / "pets.tgz"), image_size=[4, 4],
                               test_split=0.25))
    assert ds.sizes() == {"train": 6, "validation": 0, "test": 2}


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
def _load_images(path: Path) -> None:
    load_dataset(DataSpec(dataset="image_folder", path=str(path), image_size=[4, 4]))


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no image files") as info:
        _load_images(tmp_path)
    assert str(tmp_path) in str(info.value) and "sub-folder per class" in str(info.value)


def test_class_folder_without_images(tmp_path: Path) -> None:
    _png_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match="class folder 'c' has no image files") as info:
        _load_images(tmp_path)
    assert str(tmp_path / "c") in str(info.value)


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    _png_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="cannot be read as an image") as info:
        load_dataset(DataSpec(dataset="image_folder", path=str(tmp_path), image_size=[4, 4], test_split=0.0))
    assert str(tmp_path / "b" / "broken.jpg") in str(info.value)


def test_single_class(tmp_path: Path) -> None:
    _png_folder(tmp_path / "train", {"only": 3})
    with pytest.raises(DataError, match="only one class folder"):
        _load_images(tmp_path)


def test_not_an_archive(tmp_path: Path) -> None:
    bad = tmp_path / "photos.zip"
    bad.write_bytes(b"this is not a zip file at all")
    with pytest.raises(DataError, match="not a valid zip or tar archive") as info:
        _load_images(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(DataError, match="not a .zip"):
        _load_images(_plain_file(tmp_path))


def _plain_file(tmp_path: Path) -> Path:
    path = tmp_path / "list.txt"
    path.write_text("a")
    return path


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _load_images(tmp_path / "nowhere")


def test_folder_listing_ignores_hidden(tmp_path: Path) -> None:
    _png_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / ".thumbs").mkdir()
    ds = load_dataset(DataSpec(dataset="image_folder", path=str(tmp_path), image_size=[4, 4], test_split=0.0))
    assert ds.class_names == ["a", "b"]


def test_relative_path_is_found_in_the_data_dir(tmp_path, monkeypatch):
    from kerasforge.data.locate import resolve_data_path

    (tmp_path / "pets").mkdir()
    monkeypatch.setenv("KFORGE_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    assert resolve_data_path("pets") == tmp_path / "pets"
    assert resolve_data_path("missing.zip") == Path("missing.zip")
