"""``load_dataset``: the recipe's ``data:`` section in, a prepared :class:`Dataset` out.

Steps: read the source (choosing the ``subset`` before anything costly is decoded) → colour mode and
image size → normalisation from training statistics → views. A named dataset found nowhere is replaced
by ``data.fallback`` when one is given, with a note that says so.

Example:
    >>> from kerasforge.recipe import DataSpec
    >>> ds = load_dataset(DataSpec(dataset="digits", subset=200), seed=0)
    >>> ds.x_train.shape, ds.notes[0]
    ((200, 8, 8, 1), 'held out a stratified test split of 359 of 1797 examples (test_split=0.2)')
"""

from __future__ import annotations

from ..errors import DataError
from ..recipe import DataSpec
from .csv_table import load_csv
from .dataset import Dataset
from .digits import load_digits_dataset
from .folders import load_image_folder, load_text_folder
from .imbalance import make_rare
from .locate import NAMED, PRETTY, DatasetNotFoundError
from .named import load_named
from .preprocess import apply_views, normalize, prepare_images
from .scaling import image_statistics
from .source import Loaded
from .split import Picker
from .validation_source import attach_validation, ignores_split, table_validation


def read_source(spec: DataSpec, seed: int, validation_split: float = 0.0) -> Loaded:
    """The dataset as stored (subset taken, nothing normalised), its notes included; with ``data.validation``
    its validation set too (and nothing carved from training)."""
    picker = Picker(spec.subset, seed, spec.stratify)
    carve, validation_split = validation_split, 0.0 if ignores_split(spec) else validation_split
    table_val = table_validation(spec)  # a validation table is read (and encoded) with the training table
    if spec.dataset in NAMED:
        loaded = load_named(spec, picker)
    elif spec.dataset == "digits":
        loaded = load_digits_dataset(spec.test_split, picker)
    elif spec.dataset == "image_folder":
        loaded = load_image_folder(spec.path, spec.image_size, spec.color_mode, spec.test_split, picker,  # type: ignore[arg-type]
                                   validation_split=validation_split, stratify=spec.stratify)
    elif spec.dataset == "text_folder":
        loaded = load_text_folder(spec.path, spec.test_split, picker,  # type: ignore[arg-type]
                                  validation_split=validation_split, stratify=spec.stratify)
    elif spec.dataset in ("csv", "parquet"):
        from .table_cache import load_table, use_cache

        if spec.dataset == "parquet" or use_cache(spec.path, spec.stream):  # type: ignore[arg-type]
            _no_label_columns(spec)
            loaded = load_table(spec.path, spec.target, spec.test_split, picker,  # type: ignore[arg-type]
                                validation_split=validation_split, validation=table_val)
        else:
            loaded = load_csv(spec.path, spec.target, spec.test_split, picker,  # type: ignore[arg-type]
                              targets=spec.targets, validation=table_val)  # data.targets columns: other outputs
    elif spec.dataset == "python":
        from ..errors import DataError

        raise DataError("dataset 'python' means the data is given in Python, and none was", where="data.dataset",
                        fix="Call kerasforge.train(recipe, data=(x, y)) (or a dict of splits, or a tf.data / Grain "
                            "dataset), or name a dataset in the recipe.")
    else:  # pragma: no cover - the recipe schema allows nothing else
        raise ValueError(f"unknown dataset {spec.dataset!r}")
    ds = loaded.dataset
    ds.notes[:0] = picker.notes
    attach_validation(spec, loaded, seed=seed, validation_split=carve)
    return loaded


def _fallback_spec(spec: DataSpec) -> DataSpec:
    keep_path = spec.fallback in ("image_folder", "text_folder", "csv", "parquet")
    return spec.model_copy(update={"dataset": spec.fallback, "fallback": None,
                                   "path": spec.path if keep_path else None})


def load_raw(spec: DataSpec, seed: int = 42, *, validation_split: float = 0.0) -> Loaded:
    """The dataset before normalisation: source read (or the fallback), colour mode and image size applied.

    Exports use it to verify models on raw inputs (pixels 0..255, word ids, text).

    >>> load_raw(DataSpec(dataset="digits", subset=50)).pixel_max
    16.0
    """
    try:
        loaded = read_source(spec, seed, validation_split)
    except DatasetNotFoundError as missing:
        if not spec.fallback or spec.fallback == spec.dataset:
            raise
        loaded = read_source(_fallback_spec(spec), seed)
        searched = "; ".join(missing.searched)
        loaded.dataset.notes.insert(0, f"{PRETTY.get(spec.dataset, spec.dataset)} was not found (searched: "
                                       f"{searched}); using {PRETTY.get(spec.fallback, spec.fallback)} instead")
    ds = loaded.dataset
    if ds.kind == "image":
        prepare_images(ds, spec.color_mode, spec.image_size, full=loaded.pixel_max or 255)  # type: ignore[arg-type]
    return loaded


def load_dataset(spec: DataSpec, seed: int = 42, *, compact: bool = False,
                 validation_split: float = 0.0, loaded: Loaded | None = None) -> Dataset:
    """Load and prepare the dataset a recipe's ``data:`` section describes.

    Features come in their natural layout (images (N, H, W, C) float32, IMDB (N, maxlen) int32,
    tabular (N, F) float32, text (N,) str), labels as class ids. ``source`` says where the data was
    read from and ``notes`` what was done to it.

    >>> ds = load_dataset(DataSpec(dataset="digits", subset=100, normalize="scale"))
    >>> float(ds.x_train.max()) <= 1.0, ds.class_names[:3]
    (True, ['0', '1', '2'])

    ``compact=True`` keeps images as stored (uint8) and leaves their normalisation pending for the model
    (see :mod:`kerasforge.data.scaling`); ``validation_split`` lets sources that decode to a cache (image
    folders) carve the validation split before decoding, so it is cached like the others. ``loaded``:
    data already read (``kerasforge.train(..., data=...)``), prepared like a source's.
    """
    if loaded is None:
        loaded = load_raw(spec, seed, validation_split=validation_split)
    else:  # data given in Python: data.validation may name its test split
        attach_validation(spec, loaded, seed=seed, validation_split=validation_split, python=True)
        if loaded.dataset.kind == "image":
            prepare_images(loaded.dataset, spec.color_mode, spec.image_size, full=loaded.pixel_max or 255)  # type: ignore[arg-type]
    ds = loaded.dataset
    if spec.imbalance:
        make_rare(ds, class_id=spec.imbalance.class_id, fraction=spec.imbalance.fraction, seed=seed)
    if compact and not spec.views and (ds.kind == "image" or (ds.kind == "tabular" and ds.cache)):
        if ds.kind == "image":
            offset, divisor = image_statistics(ds.x_train, spec.normalize, loaded.pixel_max)  # type: ignore[arg-type]
        else:  # a table from the cache: statistics over the whole training split, in chunks (with the
            from .table_cache import table_statistics  # validation rows, as the in-memory path computes them)

            offset, divisor = table_statistics([ds.x_train] if ds.validation_source else [ds.x_train, ds.x_val],
                                               spec.normalize)  # type: ignore[list-item]
        ds.preprocessing["pending"] = {"normalize": spec.normalize, "offset": offset, "divisor": divisor,
                                       "pixel_max": loaded.pixel_max}
    else:
        normalize(ds, spec.normalize, loaded.pixel_max)
    if spec.views:
        apply_views(ds, spec.views, loaded.feature_columns)
    return ds


def _no_label_columns(spec: DataSpec) -> None:
    """The cached table path reads one label column: ``data.targets`` naming columns is refused there."""
    columns = {k: v for k, v in (spec.targets or {}).items() if str(v).isidentifier() and v != "label"}
    if columns:
        name = next(iter(columns))
        raise DataError(f"names the column {columns[name]!r} as the labels of the output {name!r}, which the "
                        f"cached {spec.dataset} table path does not read", where=f"data.targets.{name}",
                        fix="Set data.stream: false to read the CSV in memory, or give that output an expression "
                            "over `label`.")
