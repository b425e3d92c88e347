"""The decoded cache on real JPEG/PNG files: build, reuse, invalidation, damage, corrupt images."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasforge.data.cache import cached_images, describe_entry, open_entry
from kerasforge.data.folders import load_image_folder
from kerasforge.data.split import Picker
from kerasforge.errors import DataError


def make_folder(root: Path, per_class: int = 4, size: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (220, 20, 20), "blue": (20, 20, 220)}.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    return root


def load(folder: Path):
    return load_image_folder(folder, (8, 8), "rgb", 0.25, Picker(None, 0)).dataset


def test_built_once_then_reused(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    first = load(folder)
    assert first.cache["reused"] is False and isinstance(first.x_train, np.memmap)
    assert first.x_train.dtype == np.uint8 and first.x_train.shape[1:] == (8, 8, 3)
    second = load(folder)
    assert second.cache["reused"] is True and second.cache["path"] == first.cache["path"]
    np.testing.assert_array_equal(np.asarray(first.x_train), np.asarray(second.x_train))
    # red images decode red, blue ones blue: labels and pixels stay together
    red = np.asarray(second.x_train)[second.y_train == second.class_names.index("red")]
    assert red[..., 0].mean() > red[..., 2].mean() + 100
    assert len([p for p in cache_dir.iterdir()]) == 1


@pytest.mark.parametrize("change", ["add", "change", "remove"])
def test_files_changed_invalidate(tmp_path: Path, cache_dir: Path, change: str) -> None:
    folder = make_folder(tmp_path / "imgs")
    before = load(folder)
    target = folder / "red" / "0.jpg"
    if change == "add":
        Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / "red" / "new.jpg")
    elif change == "change":
        Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(target)
        os.utime(target, ns=(1, 1))
    else:
        target.unlink()
    after = load(folder)
    assert after.cache["reused"] is False and after.cache["path"] != before.cache["path"]
    total = sum(after.sizes().values())
    assert total == {"add": 9, "change": 8, "remove": 7}[change]
    assert [p.name for p in cache_dir.iterdir()] == [Path(after.cache["path"]).name]  # the stale entry went


def test_other_settings_are_another_entry(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    a = load_image_folder(folder, (8, 8), "rgb", 0.25, Picker(None, 0)).dataset
    b = load_image_folder(folder, (6, 6), "grayscale", 0.25, Picker(None, 0)).dataset
    assert a.cache["path"] != b.cache["path"] and b.x_train.shape[1:] == (6, 6, 1)


def test_damaged_cache_is_rebuilt(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    first = load(folder)
    path = Path(first.cache["path"])
    data = bytearray((path / "x_train.npy").read_bytes())
    data[-5] ^= 0xFF  # flip one pixel's bits
    (path / "x_train.npy").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        open_entry(path)
    again = load(folder)
    assert again.cache["reused"] is False
    assert any("damaged" in note for note in again.notes)
    np.testing.assert_array_equal(np.asarray(first.x_test), np.asarray(again.x_test))


def test_truncated_cache_is_rebuilt(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    path = Path(load(folder).cache["path"])
    with open(path / "x_test.npy", "r+b") as fh:
        fh.truncate(100)
    assert load(folder).cache["reused"] is False


def test_corrupt_image_named_and_nothing_cached(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    load(folder)
    (folder / "blue" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match="cannot be read as an image") as info:
        load(folder)
    assert info.value.where.endswith("broken.jpg")
    assert "Delete or replace" in info.value.message
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".building")]


def test_parallel_build_matches_serial(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kerasforge.data.cache as cache

    monkeypatch.setattr(cache, "PARALLEL_FROM", 10)
    folder = make_folder(tmp_path / "imgs", per_class=40)
    items = {"train": [(p, 0) for p in sorted((folder / "red").iterdir())]
             + [(p, 1) for p in sorted((folder / "blue").iterdir())]}
    entry = cached_images(items, (8, 8), "rgb", source="t", class_names=["red", "blue"])  # 80 files: worker pool
    assert entry.built and entry.manifest["decode_rate"] > 0
    from kerasforge.data.folders import load_image

    x = entry.arrays["train"][0]
    for row in (0, 41, 79):
        np.testing.assert_array_equal(x[row], load_image(items["train"][row][0], (8, 8), "rgb"))
    info = describe_entry(entry)
    assert info["splits"]["train"] == {"red": 40, "blue": 40} and info["bytes"] >= 80 * 8 * 8 * 3
    manifest = json.loads((entry.path / "manifest.json").read_text())
    assert manifest["settings"]["size"] == [8, 8]


def test_another_pick_of_the_same_files_keeps_both_entries(tmp_path: Path, cache_dir: Path) -> None:
    folder = make_folder(tmp_path / "imgs")
    a = load_image_folder(folder, (8, 8), "rgb", 0.25, Picker(None, 0)).dataset
    b = load_image_folder(folder, (8, 8), "rgb", 0.25, Picker(None, 0), validation_split=0.2).dataset
    assert a.cache["path"] != b.cache["path"] and b.sizes()["validation"] > 0
    assert Path(a.cache["path"]).is_dir() and Path(b.cache["path"]).is_dir()  # an export's pick and training's
    assert load_image_folder(folder, (8, 8), "rgb", 0.25, Picker(None, 0)).dataset.cache["reused"]
