"""``csv``: a table read with Python's ``csv`` module (no pandas), one row per example.

Numeric feature columns become float32 (missing cells take the column's training median), other
columns are one-hot encoded (``colour=red``...). The ``target`` column gives classes (text, or a small
set of whole numbers; names sorted) or, for other numbers, a regression target.

Example:
    >>> raw = load_csv("iris.csv", target="species", test_split=0.2, picker=Picker(None, 0))  # doctest: +SKIP
    >>> raw.dataset.class_names                                                               # doctest: +SKIP
    ['setosa', 'versicolor', 'virginica']
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import DataError, did_you_mean
from .dataset import Dataset
from .locate import resolve_data_path
from .source import Loaded
from .split import Picker

MAX_INT_CLASSES = 20  # whole-number targets with at most this many values are classes


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


MISSING = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "null", "NULL", "None"})


def _check_finite(header: list[str], rows: list[list[str]], path: Path) -> None:
    """Infinite numbers are refused (NaN and NA-like cells are missing values, filled or dropped)."""
    for line, row in enumerate(rows, start=2):
        for name, cell in zip(header, row, strict=False):
            if cell not in MISSING and cell.lower().lstrip("+-") in ("inf", "infinity"):
                raise DataError(f"line {line}, column '{name}' holds {cell!r}, not a finite number",
                                where=str(path), fix="Replace it with a real value, or leave the cell empty "
                                "for a missing value.")


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file (delimiter sniffed: comma, semicolon, tab or pipe)."""
    if not path.is_file():
        raise DataError("does not exist", where=str(path), fix="Check `data.path`: give a .csv file.")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror})", where=str(path), fix="Check the file is readable.") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    if "\x00" in text[:65536]:
        raise DataError("is a binary file, not CSV text", where=str(path), fix="Give a UTF-8 .csv file as `data.path`.")
    reader = csv.reader(text.splitlines(), dialect)
    try:
        rows = [[c.strip() for c in row] for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:  # a cell over csv's field size limit, a NUL byte...
        raise DataError(f"line {reader.line_num} cannot be read as CSV ({exc})", where=str(path),
                        fix="Check that line: cells hold short numbers or words, and quotes are balanced.") from None
    if not rows:
        raise DataError("is empty", where=str(path), fix="Give a CSV file with a header row and one row per example.")
    header, body = rows[0], rows[1:]
    if not body:
        raise DataError(f"has a header ({', '.join(header)}) but no rows", where=str(path),
                        fix="Add one row per example below the header.")
    bad = next((i for i, r in enumerate(body, start=2) if len(r) != len(header)), None)
    if bad is not None:
        raise DataError(f"line {bad} has {len(body[bad - 2])} cells where the header has {len(header)}",
                        where=str(path), fix="Give every row one cell per column (quote cells that contain commas).")
    return header, body


def _target(values: list[str], path: Path, column: str) -> tuple[np.ndarray, list[str], str]:
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        distinct = sorted(set(numbers))  # type: ignore[type-var]
        if all(float(n).is_integer() for n in distinct) and len(distinct) <= MAX_INT_CLASSES:
            ids = {n: i for i, n in enumerate(distinct)}
            names = [str(int(n)) for n in distinct]  # type: ignore[arg-type]
            return np.asarray([ids[n] for n in numbers], np.int64), names, _task(names)
        return np.asarray(numbers, np.float32), [column], "regression"
    names = sorted(set(values))
    ids = {n: i for i, n in enumerate(names)}
    return np.asarray([ids[v] for v in values], np.int64), names, _task(names)


def _task(names: list[str]) -> str:
    return "binary" if len(names) == 2 else "multiclass"


def load_csv(path: str | Path, target: str, test_split: float, picker: Picker,
             targets: dict[str, str] | None = None, validation: Path | None = None) -> Loaded:
    """A CSV table as (N, F) float32 features, class ids (or float targets) and a held-out test split.

    ``targets`` (``data.targets``): an output whose value is a column name learns that column (left out
    of the features), in ``Dataset.y_outputs``; other values are expressions over ``label`` (the target).
    ``validation`` (``data.validation``): a CSV of the same columns read as the validation split, encoded
    with the training table (its rows are never in the test split, nor in the medians that fill gaps).
    """
    path = resolve_data_path(path)
    header, rows = read_rows(path)
    n_train_rows = len(rows)
    if validation is not None:
        from .validation_source import about_validation, table_columns

        with about_validation(validation):
            v_header, v_rows = read_rows(validation)
            _check_finite(v_header, v_rows, validation)
        order = table_columns(header, v_header, validation)
        rows = rows + [[r[i] for i in order] for r in v_rows]
    label_columns = {out: col for out, col in (targets or {}).items() if col in header and col != target}
    for out, col in (targets or {}).items():
        if str(col).isidentifier() and col not in header and col != "label":
            raise DataError(f"has no column '{col}' (data.targets.{out}).{did_you_mean(col, header)} "
                            f"Its columns are: {', '.join(header)}", where=str(path),
                            fix="Name a column of the table, or write an expression over `label` (the target).")
    if target not in header:
        raise DataError(f"has no column '{target}' (the target).{did_you_mean(target, header)} "
                        f"Its columns are: {', '.join(header)}", where=str(path),
                        fix="Set `data.target` to one of those column names.")
    t = header.index(target)
    _check_finite(header, rows, path)
    rows = [[("" if c in MISSING else c) for c in r] for r in rows]  # NaN, NA, null: missing values
    wanted = [t, *(header.index(c) for c in label_columns.values())]
    kept_at = [i for i, r in enumerate(rows) if all(r[c] != "" for c in wanted)]
    kept = [rows[i] for i in kept_at]
    from_val = np.asarray(kept_at, np.int64) >= n_train_rows  # rows of the validation table (at the end)
    if not kept:
        raise DataError(f"column '{target}' (the target) is empty in every row", where=str(path),
                        fix="Fill in the target column, or choose another `data.target`.")
    y, class_names, task = _target([r[t] for r in kept], path, target)
    if task != "regression" and len(class_names) < 2:
        raise DataError(f"column '{target}' holds a single class ({class_names[0]})", where=str(path),
                        fix="A classifier needs examples of at least two classes.")
    train, test = picker.carve_test(y[~from_val], test_split)  # training rows come first: same indices
    val = np.flatnonzero(from_val)
    if validation is not None:
        from .validation_source import new_classes, no_rows

        if not len(val):
            raise no_rows(validation, target)
        new_classes(y[~from_val], y[val], class_names, str(validation))
    columns, blocks, onehot = [], [], []
    for c, name in enumerate(header):
        if c == t or name in label_columns.values():
            continue
        cells = [r[c] for r in kept]
        numbers = [_number(v) if v != "" else None for v in cells]
        if all(n is not None or v == "" for n, v in zip(numbers, cells, strict=True)) and any(
                n is not None for n in numbers):
            col = np.asarray([np.nan if n is None else n for n in numbers], np.float64)
            known = col[train][~np.isnan(col[train])]
            fill = float(np.median(known)) if known.size else 0.0
            if np.isnan(col).any():
                picker.notes.append(f"filled {int(np.isnan(col).sum())} missing values of '{name}' with {fill:g}")
            blocks.append(np.where(np.isnan(col), fill, col)[:, None])
            columns.append(name)
        else:
            levels = sorted(set(cells))
            blocks.append((np.asarray(cells)[:, None] == np.asarray(levels)[None, :]).astype(np.float64))
            columns += [name] * len(levels)
            onehot.append(name)
    if not blocks:
        raise DataError(f"has no feature columns besides the target '{target}'", where=str(path),
                        fix="Add columns to predict from.")
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    tr = train[picker.pick(y[train], "train")]
    te = test[picker.pick(y[test], "test")]
    ds = Dataset("csv", x[tr], y[tr], x[te], y[te], class_names, task=task, source=str(path))  # type: ignore[arg-type]
    va = val[picker.pick(y[val], "validation")] if len(val) else None
    if va is not None:
        ds.x_val, ds.y_val = x[va], y[va]
    for out, column in label_columns.items():  # another output's labels: the same rows, split the same way
        values, names, out_task = _target([r[header.index(column)] for r in kept], path, column)
        ds.y_outputs.setdefault("train", {})[out] = values[tr]
        ds.y_outputs.setdefault("test", {})[out] = values[te]
        if va is not None:
            ds.y_outputs.setdefault("validation", {})[out] = values[va]
        ds.output_classes[out] = (out_task, names)
    dropped = len(rows) - len(kept)
    if dropped:
        ds.notes.append(f"dropped {dropped} rows with no '{target}' value"
                        + (f" (or no {', '.join(map(repr, label_columns.values()))} value)" if label_columns else ""))
    if onehot:
        ds.notes.append(f"one-hot encoded the text columns {', '.join(onehot)}")
    return Loaded(ds, feature_columns=columns)
