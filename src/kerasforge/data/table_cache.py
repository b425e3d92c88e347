"""Large tables (CSV and Parquet) read in chunks into the decoded cache, in bounded memory.

One pass over the file, chunk by chunk (:data:`CHUNK_ROWS` rows): every cell is checked and classified
exactly as :mod:`kerasforge.data.csv_table` does for a table in memory (the same missing-value spellings,
number parsing, refused infinities, ragged rows and CSV errors, with the same messages and line numbers),
and each column is appended to work files on disk: its numbers (float64, NaN where missing) and, while
it may still turn out to be text, provisional category codes. Only then, over the whole file, are the
column kinds, the target's classes, the category levels (sorted) and the training medians decided; the
features are gathered from the work files into ``x_<split>.npy`` (float32, one-hot levels in column
order, as in memory) split by split. The training split's normalisation statistics are computed over the
whole split by :func:`table_statistics`, also in chunks.

CSV is parsed by Python's ``csv`` module over the file read incrementally (one block at a time, the same
line splitting as the in-memory reader), so quoting, sniffed delimiters and line numbers are identical;
Parquet is read with pyarrow (``ParquetFile.iter_batches``): its numeric columns are taken as numbers,
its text columns go through the same cell rules as CSV text.

Example:
    >>> loaded = load_table("big.csv", "label", 0.2, Picker(None, 0))   # doctest: +SKIP
    >>> loaded.dataset.x_train.dtype, type(loaded.dataset.x_train)    # doctest: +SKIP
    (dtype('float32'), <class 'numpy.memmap'>)
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, did_you_mean
from .cache import CacheEntry, cached_entry
from .csv_table import MAX_INT_CLASSES, MISSING, _number
from .dataset import Dataset
from .locate import resolve_data_path
from .source import Loaded
from .split import Picker

CHUNK_ROWS = 65_536  # rows per chunk (tests force smaller)
LEVEL_CAP = 4096  # distinct cells remembered per still-numeric column (beyond: re-read if it turns out text)
CACHE_FROM_BYTES = 32 << 20  # CSV files from this size go through the cache ($KFORGE_TABLE_CACHE_FROM)
PARQUET_SUFFIXES = (".parquet", ".pq")
_READ_CHARS = 1 << 20
Progress = Callable[[int, int], None]  # (rows done, bytes or rows in all: unknown -> 0)


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix)."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def use_cache(path: str | Path, stream: Any) -> bool:
    """Whether a table is read in chunks into the cache: always for Parquet and with ``data.stream: true``,
    else for CSV files of at least ``$KFORGE_TABLE_CACHE_FROM`` bytes (default 32 MiB)."""
    from .memory import parse_bytes

    path = resolve_data_path(path)
    if is_parquet(path) or stream is True:
        return True
    limit = os.environ.get("KFORGE_TABLE_CACHE_FROM", "").strip()
    threshold = parse_bytes(limit) if limit else CACHE_FROM_BYTES
    try:
        return path.stat().st_size >= threshold
    except OSError:
        return False  # the in-memory reader gives the error


# ---------------------------------------------------------------------------------------------------
# Reading chunks: CSV (stdlib csv, incrementally) and Parquet (pyarrow)
# ---------------------------------------------------------------------------------------------------
def _lines(fh) -> Iterator[str]:
    """The file's lines as ``str.splitlines()`` cuts the whole text, read one block at a time."""
    carry = ""
    while block := fh.read(_READ_CHARS):
        lines = (carry + block).splitlines(keepends=True)
        last = lines[-1]
        # the last piece may go on in the next block: no line break yet, or a "\r" before a "\n"
        carry = lines.pop() if last.splitlines()[0] == last or last.endswith("\r") else ""
        for line in lines:
            yield line.splitlines()[0]
    if carry:
        yield carry.splitlines()[0]


@dataclass
class _Chunk:
    """Rows ``first_line...`` of the table: per column either text cells (stripped) or numbers."""

    lines: list[int]  # the line (CSV) or row (Parquet) label of each row, for messages
    columns: list[list[str] | np.ndarray]


def _csv_chunks(path: Path, chunk_rows: int, state: dict[str, Any]) -> Iterator[_Chunk]:
    """Header (into ``state``) then chunks of a CSV file, with the in-memory reader's checks and errors."""
    if not path.is_file():
        raise DataError("does not exist", where=str(path), fix="Check `data.path`: give a .csv file.")
    try:
        fh = open(path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror})", where=str(path), fix="Check the file is readable.") from None
    with fh:
        head = fh.read(65536)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(head[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        if "\x00" in head:
            raise DataError("is a binary file, not CSV text", where=str(path),
                            fix="Give a UTF-8 .csv file as `data.path`.")
        fh.seek(0)
        reader = csv.reader(_lines(fh), dialect)
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        line = 1
        try:
            for raw in reader:
                row = list(map(str.strip, raw))
                if not any(row):
                    continue
                if header is None:
                    header = row
                    state["header"] = header
                    continue
                line += 1
                if len(row) != len(header):
                    state.setdefault("ragged", (line, len(row)))
                    continue
                rows.append(row)
                lines.append(line)
                if len(rows) >= chunk_rows:
                    yield _Chunk(lines, [list(c) for c in zip(*rows, strict=True)])
                    rows, lines = [], []
        except csv.Error as exc:  # a cell over csv's field size limit, a NUL byte...
            raise DataError(f"line {reader.line_num} cannot be read as CSV ({exc})", where=str(path),
                            fix="Check that line: cells hold short numbers or words, and quotes are balanced.") from None
        if header is None:
            raise DataError("is empty", where=str(path), fix="Give a CSV file with a header row and one row per example.")
        if line == 1:
            raise DataError(f"has a header ({', '.join(header)}) but no rows", where=str(path),
                            fix="Add one row per example below the header.")
        if "ragged" in state:
            bad, cells = state["ragged"]
            raise DataError(f"line {bad} has {cells} cells where the header has {len(header)}",
                            where=str(path), fix="Give every row one cell per column (quote cells that contain commas).")
        if rows:
            yield _Chunk(lines, [list(c) for c in zip(*rows, strict=True)])


def _parquet_chunks(path: Path, chunk_rows: int, state: dict[str, Any]) -> Iterator[_Chunk]:
    """Header (into ``state``) then chunks of a Parquet file: numeric columns as float64, others as text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the core dependencies
        raise DataError("needs pyarrow to be read", where=str(path),
                        fix="pip install 'kerasforge[tables]' (or pyarrow).") from None
    if not path.is_file():
        raise DataError("does not exist", where=str(path), fix="Check `data.path`: give a .parquet file.")
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot be read as Parquet ({exc})", where=str(path),
                        fix="Give a Parquet file written by pandas, pyarrow or Spark (or a .csv).") from None
    header = [str(n) for n in pf.schema_arrow.names]
    state["header"] = header
    if pf.metadata.num_rows == 0:
        raise DataError(f"has columns ({', '.join(header)}) but no rows", where=str(path),
                        fix="Add one row per example.")
    first = 1
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows):
            columns: list[list[str] | np.ndarray] = []
            for col in batch.columns:
                kind = col.type
                if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
                    columns.append(np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64))
                else:
                    columns.append(["" if v is None else (v if isinstance(v, str) else str(v)).strip()
                                    for v in col.to_pylist()])
            yield _Chunk(list(range(first, first + batch.num_rows)), columns)
            first += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot be read as Parquet after row {first - 1} ({exc})", where=str(path),
                        fix="The file is damaged: write it again.") from None


# ---------------------------------------------------------------------------------------------------
# One pass: checks, column kinds and work files
# ---------------------------------------------------------------------------------------------------
def _number_or_nan(cell: str) -> float:
    number = _number(cell) if cell != "" else None
    return np.nan if number is None else number


def _numbers(cells: list[str]) -> np.ndarray | None:
    """Cells (missing already "") as float64 with NaN where missing, or ``None`` when a cell is not a
    (finite) number: csv_table's parse. numpy converts a list of str with Python's own ``float``, all at
    once; the cells go one by one only when a NaN or an infinity shows that was not a missing cell."""
    try:
        values = np.array([c or "nan" for c in cells], np.float64)
    except ValueError:
        return None  # a word
    bad = ~np.isfinite(values)
    if bad.any() and not np.array_equal(np.flatnonzero(bad), np.flatnonzero(np.asarray(cells, object) == "")):
        return None  # "-nan", "1e999", "inf": not finite numbers, so text (an infinity is refused anyway)
    return values


def _append(file: Path, values: np.ndarray) -> None:
    with open(file, "ab") as fh:
        fh.write(np.ascontiguousarray(values).tobytes())


def _is_inf(cell: str) -> bool:
    return cell not in MISSING and cell.lower().lstrip("+-") in ("inf", "infinity")


@dataclass
class _Column:
    """What one pass learned of a column, and its work files."""

    name: str
    numeric: bool = True  # every kept cell is a number or missing
    any_number: bool = False
    missing: int = 0
    levels: dict[str, int] | None = field(default_factory=dict)  # provisional codes (None: gave up)
    typed: bool = False  # a numeric Parquet column (never text)


def _cells_of(values: list[str] | np.ndarray) -> list[str] | None:
    """Text cells with missing ones as "" (``None`` for a numeric Parquet column)."""
    if isinstance(values, np.ndarray):
        return None
    return ["" if c in MISSING else c for c in values]


def _kept(chunk: _Chunk, t: int) -> np.ndarray:
    """Indices of the chunk's rows that have a target value."""
    values = chunk.columns[t]
    if isinstance(values, np.ndarray):
        return np.flatnonzero(~np.isnan(values))
    return np.flatnonzero([v not in MISSING for v in values])


class _Pass:
    """The single pass over a table's chunks (see the module docstring)."""

    def __init__(self, path: Path, work: Path, target: str, header: list[str]) -> None:
        self.path, self.work, self.header = path, work, header
        if target not in header:
            raise DataError(f"has no column '{target}' (the target).{did_you_mean(target, header)} "
                            f"Its columns are: {', '.join(header)}", where=str(path),
                            fix="Set `data.target` to one of those column names.")
        self.t = header.index(target)
        self.columns = [_Column(name) for name in header]
        self.rows = 0  # rows in the file
        self.kept = 0  # rows with a target
        self.inf: tuple[int, int, str] | None = None  # the first infinite cell: (line, column, cell)

    def num_file(self, c: int) -> Path:
        return self.work / f"num{c}.f64"

    def code_file(self, c: int) -> Path:
        return self.work / f"code{c}.i32"

    def feed(self, chunk: _Chunk) -> None:
        self.rows += len(chunk.lines)
        self._check_inf(chunk)
        idx = _kept(chunk, self.t)
        self.kept += len(idx)
        for c, values in enumerate(chunk.columns):
            col = self.columns[c]
            if isinstance(values, np.ndarray):  # a numeric Parquet column
                nums = values[idx]
                missing = np.isnan(nums)
                col.typed = True
                col.missing += int(missing.sum())
                if missing.all() and col.levels is not None:
                    codes = np.full(len(idx), col.levels.setdefault("", len(col.levels)), np.int32)
                    _append(self.code_file(c), codes)
                elif not missing.all():
                    col.any_number, col.levels = True, None
            else:
                cells = _cells_of([values[i] for i in idx])
                assert cells is not None
                nums = _numbers(cells) if col.numeric else None
                if nums is None:
                    col.numeric = False
                else:
                    missing = np.isnan(nums)
                    col.any_number |= bool((~missing).any())
                    col.missing += int(missing.sum())
                if col.levels is not None:
                    levels = col.levels
                    codes = np.fromiter((levels.setdefault(v, len(levels)) for v in cells), np.int32, len(cells))
                    _append(self.code_file(c), codes)
                    if col.numeric and len(levels) > LEVEL_CAP:
                        col.levels = None  # a number column: re-read its cells only if it turns out text
            if nums is not None:
                _append(self.num_file(c), nums)

    def _check_inf(self, chunk: _Chunk) -> None:
        if self.inf is not None:
            return
        first: tuple[int, int, str] | None = None
        for c, values in enumerate(chunk.columns):
            if isinstance(values, np.ndarray):
                bad = np.flatnonzero(np.isinf(values))
                hit = (int(bad[0]), c, str(float(values[bad[0]]))) if len(bad) else None
            elif "inf" in "\0".join(values).lower():  # rare: look cell by cell only then
                hit = next(((i, c, v) for i, v in enumerate(values) if _is_inf(v)), None)
            else:
                hit = None
            if hit is not None and (first is None or hit[0] < first[0]):
                first = hit
        if first is not None:
            self.inf = (chunk.lines[first[0]], first[1], first[2])

    def raise_inf(self, word: str) -> None:
        if self.inf is not None:
            line, c, cell = self.inf
            raise DataError(f"{word} {line}, column '{self.header[c]}' holds {cell!r}, not a finite number",
                            where=str(self.path), fix="Replace it with a real value, or leave the cell empty "
                            "for a missing value.")


def _rescan_levels(chunks: Iterator[_Chunk], work: Path, wanted: list[int], t: int) -> dict[int, dict[str, int]]:
    """Read the file again for the provisional codes of ``wanted`` columns (text columns whose codes were
    dropped while they looked numeric)."""
    levels: dict[int, dict[str, int]] = {c: {} for c in wanted}
    outs = {c: open(work / f"code{c}.i32", "wb") for c in wanted}  # noqa: SIM115
    try:
        for chunk in chunks:
            idx = _kept(chunk, t)
            for c in wanted:
                cells = _cells_of([chunk.columns[c][i] for i in idx])
                assert cells is not None
                lv = levels[c]
                outs[c].write(np.fromiter((lv.setdefault(v, len(lv)) for v in cells), np.int32, len(cells)).tobytes())
    finally:
        for fh in outs.values():
            fh.close()
    return levels


# ---------------------------------------------------------------------------------------------------
# The table from the pass: target, features, splits
# ---------------------------------------------------------------------------------------------------
def _sorted_remap(levels: dict[str, int]) -> tuple[list[str], np.ndarray]:
    names = sorted(levels)
    remap = np.empty(len(levels), np.int64)
    for new, name in enumerate(names):
        remap[levels[name]] = new
    return names, remap


def _target(col: _Column, nums: np.ndarray | None, codes: np.ndarray | None, path: Path, name: str
            ) -> tuple[np.ndarray, list[str], str]:
    """Class ids (or float targets), class names and task, as :func:`csv_table._target` decides."""
    if nums is not None:
        nums = np.asarray(nums)
        distinct = np.unique(nums)
        if len(distinct) <= MAX_INT_CLASSES and all(float(n).is_integer() for n in distinct):
            names = [str(int(n)) for n in distinct]
            return np.searchsorted(distinct, nums).astype(np.int64), names, _task(names)
        return nums.astype(np.float32), [name], "regression"
    assert codes is not None and col.levels is not None
    names, remap = _sorted_remap(col.levels)
    return remap[codes], names, _task(names)


def _task(names: list[str]) -> str:
    return "binary" if len(names) == 2 else "multiclass"


@dataclass
class _Feature:
    """One source column's place in the feature matrix."""

    column: int
    name: str
    fill: float | None = None  # numeric: the training median for missing cells
    levels: list[str] | None = None  # text: one-hot levels
    remap: np.ndarray | None = None


def _write_split(out: Path, index: np.ndarray, features: list[_Feature], nums: dict[int, np.ndarray],
                 codes: dict[int, np.ndarray], width: int, chunk_rows: int) -> None:
    x = np.lib.format.open_memmap(out, "w+", np.float32, (len(index), width))
    for start in range(0, len(index), chunk_rows):
        rows = index[start:start + chunk_rows]
        block = np.empty((len(rows), width), np.float32)
        at = 0
        for f in features:
            if f.levels is None:
                col = nums[f.column][rows]
                block[:, at] = np.where(np.isnan(col), f.fill, col)
                at += 1
            else:
                ids = f.remap[codes[f.column][rows]]  # type: ignore[index]
                block[:, at:at + len(f.levels)] = ids[:, None] == np.arange(len(f.levels))[None, :]
                at += len(f.levels)
        x[start:start + len(rows)] = block
    x.flush()
    del x


def _fingerprint(path: Path, settings: dict[str, Any]) -> tuple[str, str, str]:
    st = path.stat()
    state = f"{path}\0{st.st_size}\0{st.st_mtime_ns}"
    files_key = hashlib.sha256(state.encode()).hexdigest()[:16]
    source = hashlib.sha256(json.dumps({"kind": "table", "path": str(path)}).encode()).hexdigest()[:16]
    key = hashlib.sha256(json.dumps({**settings, "state": state}, sort_keys=True).encode()).hexdigest()[:32]
    return key, source, files_key


def cached_table(path: Path, target: str, test_split: float, picker: Picker, *, validation_split: float = 0.0,
                 progress: Progress | None = None, rebuild: bool = False,
                 chunk_rows: int | None = None, validation: Path | None = None) -> CacheEntry:
    """The cache entry of the table at ``path`` (CSV or Parquet) with ``target`` and these splits.

    ``validation`` (``data.validation``): a table of the same columns, read after the training one in the same
    pass (so encoded the same way) into the validation split; never in the test split or the medians."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    parquet = is_parquet(path)
    chunks = _parquet_chunks if parquet else _csv_chunks
    word = "row" if parquet else "line"
    settings = {"kind": "table", "format": "parquet" if parquet else "csv", "target": target,
                "test_split": test_split, "validation_split": validation_split, "subset": picker.subset,
                "seed": picker.seed, "stratify": picker.stratify, "reader": 1}
    if not path.is_file():
        raise DataError("does not exist", where=str(path), fix="Check `data.path`: give a .csv or .parquet file.")
    if validation is not None:  # its state is part of the key: a changed validation table is read again
        v_st = validation.stat()
        settings["validation"] = f"{validation}\0{v_st.st_size}\0{v_st.st_mtime_ns}"
    key, source_id, files_key = _fingerprint(path, settings)
    size = path.stat().st_size

    def build(tmp: Path) -> dict[str, Any]:
        work = tmp / "work"
        work.mkdir()
        try:
            return _build(tmp, work)
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    def _build(tmp: Path, work: Path) -> dict[str, Any]:
        state: dict[str, Any] = {}
        stream = chunks(path, chunk_rows, state)
        first = next(stream, None)
        scan = _Pass(path, work, target, state["header"])
        for chunk in ([first] if first is not None else []):
            scan.feed(chunk)
        for chunk in stream:
            scan.feed(chunk)
            if progress:
                progress(scan.rows, 0)
        scan.raise_inf(word)
        t, header = scan.t, state["header"]
        if scan.kept == 0:
            raise DataError(f"column '{target}' (the target) is empty in every row", where=str(path),
                            fix="Fill in the target column, or choose another `data.target`.")
        n_train = scan.kept
        if validation is not None:
            from .validation_source import about_validation, no_rows

            scan.path = validation
            with about_validation(validation):
                for chunk in _validation_chunks(validation, chunk_rows, header):
                    scan.feed(chunk)
                scan.raise_inf("row" if is_parquet(validation) else "line")
            scan.path = path
            if scan.kept == n_train:
                raise no_rows(validation, target)
        cols = scan.columns
        text_cols = [c for c, col in enumerate(cols) if not (col.numeric and col.any_number)]
        redo = [c for c in text_cols if cols[c].levels is None]
        if redo:
            def again() -> Iterator[_Chunk]:
                yield from chunks(path, chunk_rows, {})
                if validation is not None:
                    yield from _validation_chunks(validation, chunk_rows, header)

            for c, lv in _rescan_levels(again(), work, redo, t).items():
                cols[c].levels = lv
        nums = {c: np.memmap(work / f"num{c}.f64", np.float64, "r", shape=(scan.kept,))
                for c in range(len(header)) if c not in text_cols}
        codes = {c: np.fromfile(work / f"code{c}.i32", np.int32) if c == t else
                 np.memmap(work / f"code{c}.i32", np.int32, "r", shape=(scan.kept,)) for c in text_cols}
        y, class_names, task = _target(cols[t], nums.get(t), codes.get(t), path, target)
        if task != "regression" and len(class_names) < 2:
            raise DataError(f"column '{target}' holds a single class ({class_names[0]})", where=str(path),
                            fix="A classifier needs examples of at least two classes.")
        train, test = picker.carve_test(y[:n_train], test_split)  # training rows come first: same indices
        val = np.arange(n_train, len(y))
        if validation is not None:
            from .validation_source import new_classes

            new_classes(y[:n_train], y[val], class_names, str(validation))
        features, notes, onehot = [], [], []
        for c, col in enumerate(cols):
            if c == t:
                continue
            if c in text_cols:
                levels, remap = _sorted_remap(col.levels)  # type: ignore[arg-type]
                features.append(_Feature(c, col.name, levels=levels, remap=remap))
                onehot.append(col.name)
            else:
                known = np.asarray(nums[c][np.sort(train)])
                known = known[~np.isnan(known)]
                fill = float(np.median(known)) if known.size else 0.0
                if col.missing:
                    picker.notes.append(f"filled {col.missing} missing values of '{col.name}' with {fill:g}")
                features.append(_Feature(c, col.name, fill=fill))
        if not features:
            raise DataError(f"has no feature columns besides the target '{target}'", where=str(path),
                            fix="Add columns to predict from.")
        columns = [f.name for f in features for _ in range(len(f.levels) if f.levels else 1)]
        tr = train[picker.pick(y[train], "train")]
        te = test[picker.pick(y[test], "test")]
        splits = {"train": tr, "test": te}
        if validation is not None:
            splits["validation"] = val[picker.pick(y[val], "validation")]
        elif validation_split > 0:
            from .split import stratified_split

            keep, carved = stratified_split(y[tr], validation_split, picker.seed,
                                            picker.stratify and task != "regression")
            splits = {"train": tr[keep], "validation": tr[carved], "test": te}
            picker.notes.append(f"held out {len(carved)} of {len(tr)} training examples for validation"
                                f" (validation_split={validation_split:g})")
        for split, index in splits.items():
            _write_split(tmp / f"x_{split}.npy", index, features, nums, codes, len(columns), chunk_rows)
            np.save(tmp / f"y_{split}.npy", y[index])
        dropped = scan.rows - scan.kept
        if dropped:
            notes.append(f"dropped {dropped} rows with no '{target}' value")
        if onehot:
            notes.append(f"one-hot encoded the text columns {', '.join(onehot)}")
        del nums, codes
        return {"splits": {s: len(i) for s, i in splits.items()}, "class_names": class_names, "task": task,
                "feature_columns": columns, "notes": [*picker.notes, *notes], "rows": scan.rows,
                "source_bytes": size}

    return cached_entry(key, source_id, files_key, settings, build, rebuild=rebuild)


def _validation_chunks(validation: Path, chunk_rows: int, header: list[str]) -> Iterator[_Chunk]:
    """Chunks of the validation table (CSV or Parquet, by its suffix) with the training table's columns, in
    the training's order (missing or extra columns: a DataError naming them)."""
    from .validation_source import table_columns

    state: dict[str, Any] = {}
    order = None
    for chunk in (_parquet_chunks if is_parquet(validation) else _csv_chunks)(validation, chunk_rows, state):
        order = order or table_columns(header, state["header"], validation)
        yield _Chunk(chunk.lines, [chunk.columns[i] for i in order])


def load_table(path: str | Path, target: str, test_split: float, picker: Picker, *, validation_split: float = 0.0,
               progress: Progress | None = None, rebuild: bool = False, chunk_rows: int | None = None,
               validation: Path | None = None) -> Loaded:
    """A CSV or Parquet table from the cache (read in chunks when not cached yet): (N, F) float32
    features memory-mapped, class ids (or float targets), a held-out test split (and validation split
    when ``validation_split`` > 0), as :func:`kerasforge.data.csv_table.load_csv` gives them."""
    path = resolve_data_path(path)
    entry = cached_table(path, target, test_split, picker, validation_split=validation_split, progress=progress,
                         rebuild=rebuild, chunk_rows=chunk_rows, validation=validation)
    m = entry.manifest
    arrays = entry.arrays
    name = "parquet" if is_parquet(path) else "csv"
    ds = Dataset(name, arrays["train"][0], arrays["train"][1], arrays["test"][0], arrays["test"][1], m["class_names"],
                 task=m["task"], source=str(path))
    if "validation" in arrays:
        ds.x_val, ds.y_val = arrays["validation"]
    picker.notes.clear()  # the entry's notes hold the ones of the pass that built it
    ds.notes += m["notes"]
    if entry.built:
        ds.notes += [*entry.notes, f"read {m['rows']} rows once ({m['decode_rate']:.0f} rows/s) into the cache "
                                   f"{entry.path}"]
    else:
        ds.notes.append(f"read the table from the cache {entry.path}")
    ds.cache = {"path": str(entry.path), "reused": not entry.built, "bytes": entry.nbytes,
                "decode_rate": m.get("decode_rate")}
    return Loaded(ds, feature_columns=m["feature_columns"])


def table_statistics(x: np.ndarray | list[np.ndarray], how: str,
                     chunk_rows: int = CHUNK_ROWS) -> tuple[list[float], list[float]]:
    """``(offset, divisor)`` per column of ``normalize: how`` over the training features ``x`` (or the
    rows of several arrays together: a validation split carved in the cache was part of the training
    split when the in-memory path normalised it), in chunks, never a copy of the split: min-max for
    "scale", mean and standard deviation for "standardize", as
    :func:`kerasforge.data.preprocess.normalize` computes them in memory.

    >>> table_statistics(np.asarray([[0, 1], [2, 5]], np.float32), "scale")
    ([0.0, 1.0], [2.0, 4.0])
    """
    parts = [a for a in (x if isinstance(x, list) else [x]) if a is not None]
    width, rows = parts[0].shape[1], sum(len(a) for a in parts)
    if how not in ("scale", "standardize") or not rows:
        return [0.0] * width, [1.0] * width

    def chunks(dtype):
        for a in parts:
            for start in range(0, len(a), chunk_rows):
                yield np.asarray(a[start:start + chunk_rows], dtype)

    if how == "scale":
        lo = np.min([c.min(axis=0) for c in chunks(np.float32) if len(c)], axis=0).astype(np.float32)
        hi = np.max([c.max(axis=0) for c in chunks(np.float32) if len(c)], axis=0).astype(np.float32)
        div = np.where(hi > lo, hi - lo, 1).astype(np.float32)
        return lo.tolist(), div.tolist()
    mean = np.sum([c.sum(axis=0) for c in chunks(np.float64)], axis=0) / rows
    var = np.sum([np.square(c - mean).sum(axis=0) for c in chunks(np.float64)], axis=0) / rows
    std = np.sqrt(var).astype(np.float32)
    return mean.astype(np.float32).tolist(), np.where(std > 0, std, 1).astype(np.float32).tolist()
