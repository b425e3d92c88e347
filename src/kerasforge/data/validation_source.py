"""``data.validation``: an explicit validation set, instead of one cut from the training data.

The tutorials pass ``validation_data=(x_test, y_test)`` or read a separate folder; a recipe says the same with

- a **split of the source**: ``test`` (the test split doubles as the validation set — early stopping, a
  learning-rate plateau and checkpoint selection then see it, so the test score is no longer an independent
  estimate; a note says so and ``run.json`` records it), or ``validation`` when the source has one (an image
  or text folder with ``validation/`` beside ``train/`` and ``test/``, a Python dict with a validation split);
- a **path**, resolved like ``data.path`` (as given, else under ``$KFORGE_DATA_DIR``): a folder, ``.zip`` or
  ``.tar.gz`` of class sub-folders for ``image_folder``/``text_folder`` (decoded through the same cache, at the
  training's image size and colour mode, with the training's class ids); a CSV or Parquet file for
  ``csv``/``parquet`` (the same target and feature columns; read with the training table so that it is encoded
  the same way, normalised with the training split's statistics only); an ``.npz`` of ``x``/``y`` (or
  ``x_val``/``y_val``) for the named datasets and ``digits``.

With ``data.validation``, nothing is carved from training (``train.validation_split`` is not used, with a note).

Example:
    >>> from kerasforge.recipe import DataSpec
    >>> from kerasforge.data.loader import load_raw
    >>> ds = load_raw(DataSpec(dataset="digits", subset=100, validation="test")).dataset
    >>> ds.validation_source["source"], ds.sizes()["validation"] == ds.sizes()["test"]
    ('test', True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, RecipeError
from .dataset import Dataset
from .source import Loaded
from .split import Picker

FIELD = "data.validation"
SPLIT_NAMES = ("test", "validation", "train")
TABLE_SUFFIXES = {"csv": (".csv", ".tsv", ".txt", ".data", ".tab"), "parquet": (".parquet", ".pq")}
NPZ_DATASETS = ("fashion_mnist", "mnist", "cifar10", "digits")
TEST_NOTE = ("data.validation is the test split: early stopping, learning-rate plateaus and checkpoint selection "
             "see it, so the test score is no longer an independent estimate of new data (hold out a separate "
             "validation set for that)")


# ---------------------------------------------------------------------------------------------------
# the recipe field
# ---------------------------------------------------------------------------------------------------
def check_validation_value(value: Any) -> Any:
    """The recipe's ``data.validation`` as given (a non-blank string) or ``None``; anything else is refused
    with a message that says what to write.

    >>> check_validation_value(" test ")
    'test'
    """
    from pydantic_core import PydanticCustomError

    if value is None:
        return None
    if not isinstance(value, str):
        raise PydanticCustomError(
            "validation_type", "must be a split name or a path, got {kind} {value}: write `validation: test` (the "
            "test split), or the path of a folder or file holding the validation examples, in quotes if it looks "
            "like a number", {"kind": type(value).__name__, "value": repr(value)[:80]})
    if not value.strip():
        raise PydanticCustomError(
            "validation_blank", "is empty: write `validation: test` (the test split) or the path of a folder or "
            "file holding the validation examples, or remove the key to cut the validation set from training "
            "(train.validation_split)", {})
    return value.strip()


def ignores_split(spec: Any) -> bool:
    """Whether ``train.validation_split`` goes unused because ``data.validation`` names the validation set."""
    return bool(getattr(spec, "validation", None))


# ---------------------------------------------------------------------------------------------------
# errors from reading the validation set name the field
# ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def about_validation(path: Path | str) -> Iterator[None]:
    """Re-raise a :class:`DataError` met while reading the validation set as one about ``data.validation``."""
    try:
        yield
    except DataError as exc:
        if (exc.where or "").startswith(FIELD):  # already about the field
            raise
        where = f"{FIELD} ({exc.where})" if exc.where and exc.where != str(path) else f"{FIELD} ({path})"
        fix = (exc.fix or "").replace("`data.path`", f"`{FIELD}`").replace("as `data.path`", f"as `{FIELD}`")
        raise DataError(exc.what, where=where, fix=fix or None) from None


def _error(what: str, fix: str, value: str | None = None) -> DataError:
    return DataError(what, where=f"{FIELD} ({value})" if value else FIELD, fix=fix)


def _looks_like_name(value: str) -> bool:
    return "/" not in value and "\\" not in value and "." not in value and not value.startswith("~")


def _is_split_name(value: str) -> bool:
    """``test``/``validation``/``train`` always name splits; another bare word does unless it is an existing path."""
    if value in SPLIT_NAMES:
        return True
    if not _looks_like_name(value):
        return False
    from .locate import resolve_data_path

    return not resolve_data_path(value).exists()


def resolve_validation_path(value: str) -> Path:
    """``data.validation`` as a path, resolved as ``data.path`` is (as given, else under ``$KFORGE_DATA_DIR``);
    a missing one is a :class:`DataError`."""
    from .locate import resolve_data_path

    with about_validation(value):
        path = resolve_data_path(value)
    if not path.exists():
        raise _error("does not exist (nor under $KFORGE_DATA_DIR)", value=value,
                     fix="Give an existing folder or file (relative paths are read from the current folder, then "
                         "from $KFORGE_DATA_DIR, as data.path), or a split name such as `test`.")
    return path


def _not_the_training_data(spec: Any, path: Path, value: str) -> None:
    """Refuse a validation path that is ``data.path`` itself (validation on the training examples)."""
    if not getattr(spec, "path", None):
        return
    from .locate import resolve_data_path

    if resolve_data_path(spec.path).resolve() == path.resolve():
        raise _error("is data.path itself: validation scores on the training examples measure memory, not "
                     "generalisation", value=value,
                     fix="Give a folder or file of other examples, or `test`, or remove data.validation to cut the "
                         "validation set from training (train.validation_split).")


def table_validation(spec: Any, *, read: bool = True) -> Path | None:
    """The validation table of a ``csv``/``parquet`` recipe (``None`` for a split name or no ``data.validation``),
    checked to be a file the table reader takes (and, unless ``read`` is false, UTF-8 text for a CSV); the
    table readers encode it with the training table."""
    value = getattr(spec, "validation", None)
    if not value or spec.dataset not in TABLE_SUFFIXES or _is_split_name(value):
        return None  # a split name: attach_validation says which exist
    path = resolve_validation_path(value)
    _not_the_training_data(spec, path, value)
    if path.is_dir():
        raise _error(f"is a folder, but a {spec.dataset} dataset takes its validation set as one table file",
                     value=value, fix=f"Give a {' or '.join(TABLE_SUFFIXES[spec.dataset][:1])} file with the "
                                      f"training table's columns, or `test`.")
    from .table_cache import is_parquet

    if spec.dataset == "parquet" and not is_parquet(path):
        raise _error("is not a Parquet file (.parquet, .pq)", value=value,
                     fix="Give the validation rows as a Parquet file with the training table's columns, or `test`.")
    if spec.dataset == "csv" and (is_parquet(path) or path.suffix.lower() in (".npz", ".npy", ".zip", ".gz", ".tgz",
                                                                             ".tar", ".jpg", ".jpeg", ".png")):
        raise _error(f"is a {path.suffix} file, not a CSV table", value=value,
                     fix="Give the validation rows as a CSV file with the training table's columns, or `test`.")
    if spec.dataset == "csv" and read:
        check_utf8(path, value)
    return path


def check_utf8(path: Path, value: str) -> None:
    """Refuse a validation CSV that is not UTF-8 text, naming the line of the first bad byte (a file saved in
    another encoding would otherwise read its words differently from the training file's)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[:exc.start].count(b"\n")
                raise _error(f"is not UTF-8 text: line {line} holds the byte 0x{block[exc.start]:02x} (at byte "
                             f"{offset + exc.start})", value=value,
                             fix="Save the file as UTF-8 (as the training table is read), e.g. "
                                 "`iconv -f latin1 -t utf-8`.") from None
            line += block.count(b"\n")
            offset += len(block)


def table_columns(train_header: list[str], header: list[str], path: Path) -> list[int]:
    """Positions in the validation table of the training table's columns; missing or extra columns are a
    :class:`DataError` naming them.

    >>> table_columns(["a", "b"], ["b", "a"], Path("v.csv"))
    [1, 0]
    """
    missing = [c for c in train_header if c not in header]
    extra = [c for c in header if c not in train_header]
    if missing or extra:
        parts = ([f"lacks the column(s) {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"has column(s) the training table lacks: {', '.join(map(repr, extra))}"] if extra else [])
        raise DataError(" and ".join(parts), where=f"{FIELD} ({path})",
                        fix=f"Give the validation table the training table's columns ({', '.join(train_header)}), "
                            "in any order.")
    return [header.index(c) for c in train_header]


def no_rows(path: Path, target: str) -> DataError:
    """The error for a validation table with no row that has a target value."""
    return DataError(f"has no row with a '{target}' value", where=f"{FIELD} ({path})",
                     fix="Give validation rows with their target filled in, or write `validation: test`.")


def new_classes(y_train: np.ndarray, y_val: np.ndarray, class_names: list[str], where: str) -> None:
    """Refuse validation labels of classes the training split never has (the model has no output for them)."""
    extra = sorted(set(np.unique(y_val).tolist()) - set(np.unique(y_train).tolist()))
    if extra:
        names = ", ".join(repr(class_names[int(i)]) if int(i) < len(class_names) else str(i) for i in extra)
        raise DataError(f"has examples of classes the training data lacks: {names}", where=f"{FIELD} ({where})",
                        fix="Remove those examples, or add training examples of those classes.")


# ---------------------------------------------------------------------------------------------------
# the validation set of a loaded dataset
# ---------------------------------------------------------------------------------------------------
def attach_validation(spec: Any, loaded: Loaded, *, seed: int = 42, validation_split: float = 0.0,
                      python: bool = False) -> None:
    """Give ``loaded.dataset`` the validation set ``spec.validation`` names (in place; nothing when unset).

    Called on the data as read (before colour mode, image size and normalisation), so the validation
    examples are prepared like the training ones. ``python``: the data came from ``kerasforge.train(...,
    data=...)``, where a validation split of its own and ``data.validation`` are two validation sets.
    """
    value = getattr(spec, "validation", None)
    if not value:
        return
    ds = loaded.dataset
    if validation_split > 0:
        ds.notes.append(f"train.validation_split ({validation_split:g}) is not used: data.validation gives the "
                        "validation set")
    if spec.dataset in TABLE_SUFFIXES and not _is_split_name(value):  # read with the training table
        if ds.x_val is None:  # pragma: no cover - the table readers always give it
            raise _error("was not read", value=value, fix="Report this as a bug.")
        _record(ds, str(resolve_validation_path(value)))
        return
    own = ds.x_val is not None
    names = ["test", *(["validation"] if own else [])]
    if python and own and value != "validation":
        raise _error("names a validation set, and the data given in Python has its own ('validation' split): "
                     "that is two validation sets", value=value,
                     fix="Remove data.validation from the recipe, or the 'validation' entry of the data dict.")
    if value == "validation" and own:
        _record(ds, "validation")
        return
    if value == "test":
        if own:
            ds.notes.append("the source's own validation split is not used: data.validation is the test split")
        ds.x_val, ds.y_val = ds.x_test, ds.y_test
        if ds.y_outputs.get("test") is not None:
            ds.y_outputs = {**ds.y_outputs, "validation": ds.y_outputs["test"]}
        ds.notes.append(TEST_NOTE)
        _record(ds, "test", note=TEST_NOTE)
        return
    if value == "train":
        raise _error("names the training split: validation scores on the examples the model learns from measure "
                     "memory, not generalisation", value=value,
                     fix=f"Use one of: {', '.join(names)}, or a folder or file of validation examples.")
    if _is_split_name(value):
        raise _error(f"is not a split of this dataset (it has: {', '.join(names)}) nor an existing path",
                     value=value, fix=f"Use one of: {', '.join(names)}, or the path of a folder or file of "
                                      "validation examples.")
    if python:
        raise _error("is a path, but the data is given in Python", value=value,
                     fix="Give the validation examples in the data dict ({'train': ..., 'validation': (x, y)}), or "
                         "write `validation: test`.")
    if own:
        ds.notes.append(f"the source's own validation split is not used: data.validation is {value}")
    path = resolve_validation_path(value)
    _not_the_training_data(spec, path, value)
    if spec.dataset in ("image_folder", "text_folder"):
        x, y = _folder(spec, ds, path, value, seed)
    elif spec.dataset in NPZ_DATASETS:
        x, y = _npz(ds, path, value, loaded)
    else:
        raise _error(f"is a path, which the {spec.dataset} dataset cannot take as its validation set", value=value,
                     fix="Write `validation: test`, or cut the validation set from training (train.validation_split).")
    new_classes(ds.y_train, y, ds.class_names, value)
    ds.x_val, ds.y_val = x, y
    ds.y_outputs = {k: v for k, v in ds.y_outputs.items() if k != "validation"}
    _record(ds, str(path))


def _record(ds: Dataset, source: str, note: str | None = None) -> None:
    ds.validation_source = {"source": source, "examples": int(len(ds.y_val)) if ds.y_val is not None else 0,
                            **({"note": note} if note else {})}


def _folder(spec: Any, ds: Dataset, path: Path, value: str, seed: int) -> tuple[Any, np.ndarray]:
    """A class-per-folder validation set decoded through the cache with the training's settings and classes."""
    from .folders import (
        DEFAULT_IMAGE_SIZE,
        IMAGE_SUFFIXES,
        TEXT_SUFFIXES,
        _classes,
        _top,
        resolve_folder,
    )

    kind = "image" if spec.dataset == "image_folder" else "text"
    with about_validation(path):
        if path.is_file() and path.suffix.lower() in (".csv", ".parquet", ".npz", ".txt", ".jpg", ".png"):
            raise DataError(f"is a {path.suffix} file, but {spec.dataset} takes its validation set as a folder of "
                            "class sub-folders", where=str(path),
                            fix=f"Give a folder (or .zip/.tar.gz) with one sub-folder per class, like the "
                                f"training data ({', '.join(ds.class_names)}), or `test`.")
        folder = resolve_folder(path)
        classes = _classes(_top(folder), IMAGE_SUFFIXES if kind == "image" else TEXT_SUFFIXES, kind)
    extra = sorted(set(classes) - set(ds.class_names))
    if extra:
        raise _error(f"has class folders the training data lacks: {', '.join(extra)}", value=value,
                     fix=f"Use the training data's class folders ({', '.join(ds.class_names)}); rename or remove "
                         "the others.")
    missing = [c for c in ds.class_names if c not in classes]
    if missing:
        ds.notes.append(f"the validation set has no examples of {', '.join(missing)}")
    items = [(f, i) for i, c in enumerate(ds.class_names) for f in classes.get(c, [])]
    picker = Picker(spec.subset, seed, spec.stratify)
    index = picker.pick(np.asarray([lab for _, lab in items]), "validation", shuffle=True)
    chosen = {"validation": [items[i] for i in index]}
    ds.notes += picker.notes
    with about_validation(path):
        if kind == "image":
            from .cache import cached_images

            size = tuple(spec.image_size or DEFAULT_IMAGE_SIZE)
            entry = cached_images(chosen, size, spec.color_mode or "rgb", source=str(folder),  # type: ignore[arg-type]
                                  class_names=ds.class_names)
        else:
            from .text_cache import cached_texts

            entry = cached_texts(chosen, source=str(folder), class_names=ds.class_names)
    ds.notes += [f"validation: {n}" for n in entry.notes]
    return entry.arrays["validation"]


def _npz(ds: Dataset, path: Path, value: str, loaded: Loaded) -> tuple[np.ndarray, np.ndarray]:
    """``x``/``y`` (or ``x_val``/``y_val``) of an ``.npz``, in the training's stored layout (channels, size)."""
    if path.is_dir() or path.suffix.lower() != ".npz":
        raise _error(f"is {'a folder' if path.is_dir() else 'a ' + (path.suffix or 'suffix-less') + ' file'}, but "
                     f"a {ds.name} dataset takes its validation set as an .npz of x and y", value=value,
                     fix="Save the examples with np.savez(path, x=x_val, y=y_val) (pixels as stored, e.g. 0..255), "
                         "or write `validation: test`.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            pair = next(((a, b) for a, b in (("x", "y"), ("x_val", "y_val")) if a in keys and b in keys), None)
            if pair is None:
                raise _error(f"holds the arrays {', '.join(sorted(keys)) or 'none'}, not x and y", value=value,
                             fix="Save it with np.savez(path, x=x_val, y=y_val).")
            x, y = np.asarray(npz[pair[0]]), np.asarray(npz[pair[1]]).reshape(-1)
    except (OSError, ValueError) as exc:
        raise _error(f"cannot be read as an .npz file ({exc})", value=value,
                     fix="Save it with np.savez(path, x=x_val, y=y_val).") from None
    if len(x) != len(y) or not len(x):
        raise _error(f"has {len(x)} examples and {len(y)} labels", value=value,
                     fix="Give one label per example, and at least one example.")
    train = np.asarray(ds.x_train[:1])
    if ds.kind == "image":
        from .preprocess import convert_color, resize_images

        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise _error(f"holds x of shape {x.shape}, not images (N, height, width[, channels])", value=value,
                         fix=f"Give images shaped like the training ones {train.shape[1:]}.")
        modes = {1: "grayscale", 3: "rgb", 4: "rgba"}
        if x.shape[-1] not in modes:
            raise _error(f"holds images with {x.shape[-1]} channels", value=value, fix="Give 1, 3 or 4 channels.")
        x = x.astype(train.dtype, copy=False)
        if x.shape[-1] != train.shape[-1]:
            x = convert_color(x, modes[train.shape[-1]], full=loaded.pixel_max or 255)
        if x.shape[1:3] != train.shape[1:3]:
            x = resize_images(x, tuple(train.shape[1:3]))  # type: ignore[arg-type]
            ds.notes.append(f"resized the validation images to {train.shape[1]}x{train.shape[2]}")
    elif x.shape[1:] != train.shape[1:]:
        raise _error(f"holds x of shape {x.shape}, but the training examples are {train.shape[1:]}", value=value,
                     fix=f"Give examples shaped {train.shape[1:]}.")
    if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= len(ds.class_names))):
        raise _error(f"holds labels that are not class ids 0..{len(ds.class_names) - 1}", value=value,
                     fix=f"Give y as integer class ids of the training classes ({', '.join(ds.class_names[:10])}).")
    return x, y.astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# tune, check
# ---------------------------------------------------------------------------------------------------
def refuse_tuning_on_test(recipe: Any, where: str | None = None) -> None:
    """``kforge tune`` with ``data.validation: test`` picks hyperparameters by the test split: refused unless
    ``search.objective.allow_test_metric`` says so."""
    if getattr(recipe.data, "validation", None) != "test" or recipe.search is None:
        return
    if recipe.search.objective.allow_test_metric:
        return
    raise RecipeError(
        "is the test split, so every trial's validation metrics (the search objective, early stopping, pruning) "
        "are measured on the test set: choosing hyperparameters by them makes the test score an optimistic, "
        "tuned number instead of an honest estimate", where=FIELD,
        fix="Tune with a validation set of its own (a folder or file as data.validation, or "
            "train.validation_split), and look at the test score only for the final model; set "
            "search.objective.allow_test_metric: true only if you really mean it.")


def check_validation(recipe: Any) -> None:
    """``kforge check``: the parts of ``data.validation`` that need no data (a path exists and is of a kind the
    dataset takes)."""
    spec = recipe.data
    value = spec.validation
    if not value or value in ("test", "validation"):
        return
    if value == "train":
        raise _error("names the training split", value=value, fix="Use `test`, or a folder or file of validation "
                                                                  "examples.")
    if _is_split_name(value):
        raise _error("is not a split name (test, or validation where the source has one) nor an existing path",
                     value=value, fix="Use `test`, or the path of a folder or file of validation examples.")
    if spec.dataset in TABLE_SUFFIXES:
        table_validation(spec, read=False)  # kforge check reads no data
        return
    path = resolve_validation_path(value)
    if spec.dataset in ("image_folder", "text_folder") and path.is_file():
        from .archives import is_archive

        if not is_archive(path):
            raise _error(f"is a file, but {spec.dataset} takes its validation set as a folder of class sub-folders "
                         "(or a .zip/.tar.gz of one)", value=value, fix="Give a folder of class sub-folders.")

