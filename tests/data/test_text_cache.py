"""Text folders in the decoded cache: read once, reused without opening the files, invalidated on an added,
changed or removed file, a damaged blob rebuilt, and a binary file named with nothing cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kerasforge.data import imdb
from kerasforge.data.folders import load_text_folder
from kerasforge.data.split import Picker
from kerasforge.errors import DataError


def reviews(root: Path, per_class: int = 6) -> Path:
    for label, word in (("pos", "great"), ("neg", "awful")):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / label / f"{i}.txt").write_text(f"A {word} film, take {i}. Ünïcødé — ok <br /> end", "utf-8")
    return root


def load(folder: Path):
    return load_text_folder(folder, 0.25, Picker(None, 0)).dataset


def test_texts_cached_then_reused_without_reading(tmp_path: Path, cache_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = reviews(tmp_path / "imdb")
    first = load(folder)
    assert first.cache["reused"] is False and first.x_train.dtype == object and first.kind == "text"
    files = sorted(folder.rglob("*.txt"))
    assert sorted([*first.x_train, *first.x_test]) == sorted(f.read_text("utf-8") for f in files)
    entry = Path(first.cache["path"])
    assert (entry / "texts_train.bin").stat().st_size == sum(len(t.encode()) for t in first.x_train)

    def no_reading(path: Path) -> str:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(imdb, "read_text", no_reading)
    again = load(folder)
    assert again.cache["reused"] is True
    assert again.x_train.tolist() == first.x_train.tolist() and np.array_equal(again.y_test, first.y_test)


def test_added_changed_removed_files_make_a_new_entry(tmp_path: Path, cache_dir: Path) -> None:
    folder = reviews(tmp_path / "imdb")
    old = Path(load(folder).cache["path"])
    (folder / "pos" / "new.txt").write_text("A new great film")
    added = load(folder)
    assert added.cache["reused"] is False and not old.exists()
    assert "A new great film" in [*added.x_train, *added.x_test]
    changed_file = folder / "neg" / "0.txt"
    changed_file.write_text("Changed: awful")
    stamp = changed_file.stat().st_mtime_ns + 10**9
    os.utime(changed_file, ns=(stamp, stamp))
    changed = load(folder)
    assert changed.cache["reused"] is False and "Changed: awful" in [*changed.x_train, *changed.x_test]
    (folder / "pos" / "new.txt").unlink()
    removed = load(folder)
    assert removed.cache["reused"] is False and sum(removed.sizes().values()) == 12


def test_damaged_blob_is_rebuilt(tmp_path: Path, cache_dir: Path) -> None:
    folder = reviews(tmp_path / "imdb")
    first = load(folder)
    blob = Path(first.cache["path"]) / "texts_train.bin"
    data = bytearray(blob.read_bytes())
    data[3] ^= 0xFF
    blob.write_bytes(bytes(data))
    again = load(folder)
    assert again.cache["reused"] is False and any("damaged" in n for n in again.notes)
    assert again.x_train.tolist() == first.x_train.tolist()


def test_binary_file_is_named_and_nothing_cached(tmp_path: Path, cache_dir: Path) -> None:
    folder = reviews(tmp_path / "imdb")
    (folder / "neg" / "zz.txt").write_bytes(b"\x89PNG\x00\x00binary")
    with pytest.raises(DataError) as err:
        load(folder)
    assert "is a binary file, not text" in str(err.value) and "zz.txt" in str(err.value)
    assert not any(cache_dir.iterdir())
