"""Large tables read in chunks into the decoded cache: the same arrays, notes and errors as the in-memory
CSV reader, Parquet likewise, reuse without re-reading, invalidation, and normalisation statistics."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kerasforge.data import table_cache
from kerasforge.data.csv_table import load_csv
from kerasforge.data.preprocess import normalize
from kerasforge.data.split import Picker
from kerasforge.data.table_cache import load_table, table_statistics
from kerasforge.errors import DataError

COLUMNS = ["age", "income", "colour", "mixed", "note", "label"]


def rows(n: int, seed: int = 0) -> list[list[str]]:
    """Numbers with NA spellings, a text column with a missing level, a column mixing numbers and words,
    quoted cells holding the delimiter, and some rows without a target."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        age = "" if i % 97 == 0 else str(int(rng.integers(18, 90)))
        income = ["NA", "null", "NaN"][i % 3] if i % 113 == 0 else f"{rng.normal(50000, 9000):.2f}"
        colour = ["red", "blue", "green"][i % 3] if i % 51 else ""
        mixed = str(i % 7) if i % 5 else ["x", "1.0", "y"][i % 3]
        note = f'"a, {i % 4}"'
        label = ["yes", "no", "maybe"][int(rng.integers(0, 3))] if i % 301 else "N/A"
        out.append([age, income, colour, mixed, note, label])
    return out


def write_csv(path: Path, body: list[list[str]], *, newline: str = "\r\n", bom: bool = True) -> Path:
    lines = [",".join(COLUMNS)] + [",".join(r) for r in body]
    text = newline.join(lines[:3]) + newline + "\n" + newline.join(lines[3:]) + newline  # a blank line too
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(table_cache, "_READ_CHARS", 4093)  # blocks end mid-line, and between "\r" and "\n"
    return tmp_path / "cache" / "data"


def assert_same(a, b) -> None:
    for name in ("x_train", "y_train", "x_test", "y_test"):
        x, y = getattr(a.dataset, name), np.asarray(getattr(b.dataset, name))
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert a.dataset.class_names == b.dataset.class_names and a.dataset.task == b.dataset.task
    assert a.feature_columns == b.feature_columns


def test_chunked_csv_equals_the_in_memory_reader(tmp_path: Path, cache_dir: Path) -> None:
    path = write_csv(tmp_path / "t.csv", rows(30_000))
    memory_picker, chunked_picker = Picker(None, 5), Picker(None, 5)
    memory = load_csv(path, "label", 0.2, memory_picker)
    chunked = load_table(path, "label", 0.2, chunked_picker, chunk_rows=777)
    assert_same(memory, chunked)
    assert isinstance(chunked.dataset.x_train, np.memmap)
    assert chunked.dataset.x_train.shape[1] == 2 + 4 + 10 + 4  # numbers, colours (with ""), mixed, notes
    assert [*memory_picker.notes, *memory.dataset.notes] == chunked.dataset.notes[:-1]
    assert "dropped 100 rows with no 'label' value" in chunked.dataset.notes


def test_subset_and_integer_classes_and_regression(tmp_path: Path, cache_dir: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["a;b;k;price"] + [f"{rng.random():.4f};{i % 9};{i % 4 + 1};{rng.normal():.5f}" for i in range(5000)]
    path = tmp_path / "semi.csv"
    path.write_text("\n".join(lines))
    for target in ("k", "price"):
        memory = load_csv(path, target, 0.25, Picker(700, 2))
        chunked = load_table(path, target, 0.25, Picker(700, 2), chunk_rows=333)
        assert_same(memory, chunked)
    assert chunked.dataset.task == "regression" and chunked.dataset.y_train.dtype == np.float32


def test_text_showing_late_in_a_number_column(tmp_path: Path, cache_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A column of distinct numbers (codes given up after LEVEL_CAP) with a word in the last chunk, and a
    numeric-looking target with a word late: both are text, their levels read again, as in memory."""
    monkeypatch.setattr(table_cache, "LEVEL_CAP", 50)
    rng = np.random.default_rng(2)
    lines = ["f,g,y"] + [f"{rng.random():.6f},{i % 3},{i % 2 + 1}" for i in range(3000)]
    lines[-2] = "unknown,1,two"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines))
    memory = load_csv(path, "y", 0.2, Picker(None, 0))
    chunked = load_table(path, "y", 0.2, Picker(None, 0), chunk_rows=256)
    assert_same(memory, chunked)
    assert chunked.dataset.class_names == ["1", "2", "two"] and chunked.dataset.x_train.shape[1] > 2000


def test_parquet_equals_the_csv_in_memory(tmp_path: Path, cache_dir: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    body = rows(20_000, seed=3)
    csv_path = write_csv(tmp_path / "t.csv", body, newline="\n", bom=False)
    columns = list(zip(*body, strict=True))
    numbers = [None if v in ("", "NA", "null", "NaN") else float(v) for v in columns[1]]
    table = pa.table({"age": pa.array([int(v) if v else None for v in columns[0]], pa.int64()),
                      "income": pa.array(numbers, pa.float64()), "colour": pa.array(columns[2]),
                      "mixed": pa.array(columns[3]), "note": pa.array([v.strip('"') for v in columns[4]]),
                      "label": pa.array([None if v == "N/A" else v for v in columns[5]])})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3000)
    assert_same(load_csv(csv_path, "label", 0.2, Picker(None, 0)),
                load_table(tmp_path / "t.parquet", "label", 0.2, Picker(None, 0), chunk_rows=1000))


def test_reused_without_reading_then_invalidated(tmp_path: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "t.csv", rows(3000))
    first = load_table(path, "label", 0.2, Picker(None, 0), chunk_rows=500)
    assert first.dataset.cache["reused"] is False
    entry = Path(first.dataset.cache["path"])
    stamp = (entry / "x_train.npy").stat().st_mtime_ns
    real = table_cache._csv_chunks

    def no_reading(*args, **kwargs):
        raise AssertionError("the table was read again")

    monkeypatch.setattr(table_cache, "_csv_chunks", no_reading)
    again = load_table(path, "label", 0.2, Picker(None, 0), chunk_rows=500)
    assert again.dataset.cache["reused"] is True and (entry / "x_train.npy").stat().st_mtime_ns == stamp
    assert_same(first, again)
    assert again.dataset.notes[:-1] == first.dataset.notes[:-1]
    monkeypatch.setattr(table_cache, "_csv_chunks", real)
    with path.open("a") as fh:  # a changed file: a new entry, the old one deleted
        fh.write("30,40000.5,red,3,\"a, 1\",yes\r\n")
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    changed = load_table(path, "label", 0.2, Picker(None, 0), chunk_rows=500)
    assert changed.dataset.cache["reused"] is False and not entry.exists()
    assert sum(changed.dataset.sizes().values()) == sum(first.dataset.sizes().values()) + 1


BAD = {
    "inf in the last row": lambda body: body[:-1] + [["1", "2", "red", "3", "n", "-Infinity"]],
    "inf in a feature": lambda body: body[:-2] + [["1", "inf", "red", "3", "n", "yes"]] + body[-1:],
    "a ragged last row": lambda body: body + [["1", "2", "red"]],
    "an unbalanced quote": lambda body: body + [['1', '"2', 'red', '3', 'n', 'yes']],
    "an oversized cell": lambda body: body + [["1", "2", "r" * 200_000, "3", "n", "yes"]],
    "no target values": lambda body: [r[:-1] + [""] for r in body],
    "a single class": lambda body: [r[:-1] + ["yes"] for r in body],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_same_errors_as_in_memory(tmp_path: Path, cache_dir: Path, case: str) -> None:
    path = write_csv(tmp_path / "bad.csv", BAD[case](rows(2500)), newline="\n")
    with pytest.raises(DataError) as memory:
        load_csv(path, "label", 0.2, Picker(None, 0))
    with pytest.raises(DataError) as chunked:
        load_table(path, "label", 0.2, Picker(None, 0), chunk_rows=400)
    assert str(chunked.value) == str(memory.value)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())  # nothing cached, no half-built entry left


@pytest.mark.parametrize("text", ["", "age,label\n", "a,b\n1,2\n", "a,b\x00\n1,2\n"])
def test_the_same_errors_for_degenerate_files(tmp_path: Path, cache_dir: Path, text: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text)
    with pytest.raises(DataError) as memory:
        load_csv(path, "label", 0.2, Picker(None, 0))
    with pytest.raises(DataError) as chunked:
        load_table(path, "label", 0.2, Picker(None, 0))
    assert str(chunked.value) == str(memory.value)


def test_statistics_over_the_whole_split_match_in_memory(tmp_path: Path) -> None:
    from kerasforge.data.dataset import Dataset

    x = np.random.default_rng(0).normal(3, 2, (10_001, 4)).astype(np.float32)
    x[:, 3] = 7  # a constant column divides by 1
    for how in ("scale", "standardize"):
        ds = Dataset("t", x.copy(), np.zeros(len(x), np.int64), x[:2].copy(), np.zeros(2, np.int64), ["a", "b"])
        normalize(ds, how)
        offset, divisor = table_statistics(x, how, chunk_rows=997)
        assert np.allclose(offset, ds.preprocessing["offset"], rtol=1e-6)
        assert np.allclose(divisor, ds.preprocessing["divisor"], rtol=1e-6)


def test_parquet_errors_name_the_row_and_column(tmp_path: Path, cache_dir: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    values = np.arange(5000, dtype=np.float64)
    values[4990] = -np.inf
    pq.write_table(pa.table({"a": values, "label": ["x", "y"] * 2500}), tmp_path / "inf.parquet", row_group_size=700)
    with pytest.raises(DataError, match=r"row 4991, column 'a' holds '-inf', not a finite number"):
        load_table(tmp_path / "inf.parquet", "label", 0.2, Picker(None, 0), chunk_rows=500)
    with pytest.raises(DataError, match=r"has no column 'lable' \(the target\)\. Did you mean 'label'"):
        load_table(tmp_path / "inf.parquet", "lable", 0.2, Picker(None, 0))
    (tmp_path / "text.parquet").write_text("a,label\n1,x\n")
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        load_table(tmp_path / "text.parquet", "label", 0.2, Picker(None, 0))
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
