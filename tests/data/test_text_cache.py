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


def test_splits_are_read_lazily_row_by_row(tmp_path: Path, cache_dir: Path) -> None:
    import pickle
    import sys

    from kerasforge.data.text_cache import CachedTexts

    folder = reviews(tmp_path / "imdb", per_class=20)
    ds = load(folder)
    x = ds.x_train
    assert isinstance(x, CachedTexts) and ds.kind == "text" and ds.input_shape == () and len(x) == 30
    whole = np.asarray(x)  # what the in-memory path reads
    assert whole.dtype == object and len(whole) == 30 and x[-1] == whole[-1]
    assert x.read(np.array([7, 2, 3])).tolist() == [whole[7], whole[2], whole[3]]  # any order, runs in one read
    assert x[5:8].tolist() == whole[5:8].tolist() and x[np.array([True] * 2 + [False] * 28)].tolist() == whole[:2].tolist()
    view = x.subset(np.array([9, 1]))
    assert isinstance(view, CachedTexts) and view.tolist() == [whole[9], whole[1]]
    assert pickle.loads(pickle.dumps(view)).tolist() == view.tolist()  # for worker processes: no descriptor travels
    actual = sum(sys.getsizeof(t) for t in whole) + 8 * len(whole)
    assert 0.8 * actual <= x.nbytes <= 1.2 * actual  # what the memory pre-flight counts for the strings
    with pytest.raises(IndexError):
        x.read(np.array([30]))


def test_validation_is_carved_before_caching_as_split_validation_would(tmp_path: Path, cache_dir: Path) -> None:
    from kerasforge.data.split import split_validation
    from kerasforge.data.text_cache import CachedTexts

    folder = reviews(tmp_path / "imdb", per_class=20)
    picker = Picker(None, 3)
    carved = load_text_folder(folder, 0.25, picker, validation_split=0.2).dataset
    assert isinstance(carved.x_val, CachedTexts) and any("held out 6 of 30" in n for n in picker.notes)
    after = split_validation(load_text_folder(folder, 0.25, Picker(None, 3)).dataset, 0.2, seed=3)
    assert isinstance(after.x_val, CachedTexts)  # carved lazily when it comes after the cache
    assert carved.x_val.tolist() == after.x_val.tolist() and carved.x_train.tolist() == after.x_train.tolist()
    assert np.array_equal(carved.y_val, after.y_val)


def test_shards_of_a_text_epoch_are_the_one_process_order(tmp_path: Path, cache_dir: Path) -> None:
    from kerasforge.data.stream import EpochBatches

    ds = load(reviews(tmp_path / "imdb", per_class=20))
    whole = EpochBatches(ds.x_train, ds.y_train, 6, seed=4, shuffle=True)
    parts = [EpochBatches(ds.x_train, ds.y_train, 3, seed=4, shuffle=True, shard=(p, 2)) for p in range(2)]
    for epoch in (0, 2):
        for src in (whole, *parts):
            src.epoch = epoch
        for i in range(len(whole)):
            assert sorted(parts[0][i][0].tolist() + parts[1][i][0].tolist()) == sorted(whole[i][0].tolist())
    texts, labels = whole[0]
    assert texts.dtype == object and all(("great" in t) == bool(lab) for t, lab in zip(texts, labels, strict=True))


def test_non_utf8_file_added_after_caching_is_counted_and_named(tmp_path: Path, cache_dir: Path) -> None:
    folder = reviews(tmp_path / "imdb")
    old = Path(load(folder).cache["path"])
    (folder / "pos" / "latin1.txt").write_bytes("Un film génial, très émouvant".encode("latin-1"))
    again = load(folder)
    assert again.cache["reused"] is False and not old.exists()
    note = next(n for n in again.notes if "not valid UTF-8" in n)
    assert note.startswith("1 text file(s)") and "latin1.txt" in note and "U+FFFD" in note
    text = next(t for t in [*again.x_train, *again.x_test] if t.startswith("Un film"))
    assert text == "Un film g\ufffdnial, tr\ufffds \ufffdmouvant"
    reused = load(folder)  # the note comes back with the cache entry
    assert reused.cache["reused"] is True and any("latin1.txt" in n for n in reused.notes)
