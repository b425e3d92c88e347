"""Bring your own data in Python: ``kerasforge.train(recipe, data=...)``.

``data`` is numpy ``(x, y)`` (the training split), a dict of splits ``{"train": (x, y), "validation": ...,
"test": ...}``, or a ``tf.data.Dataset`` / Grain dataset (alone, or as a split's value) of ``(x, y)``
examples or batches. Datasets are read once into compact arrays (uint8 images stay uint8); a missing test
split is held out (``data.test_split``, stratified) and a missing validation split is cut from training by
``train.validation_split`` as usual. Labels are integer class ids (or floats for regression).

Example:
    >>> import numpy as np
    >>> loaded = read_python_data((np.zeros((20, 4, 4, 1), np.uint8), np.arange(20) % 2), test_split=0.25, seed=0)
    >>> loaded.dataset.sizes(), loaded.pixel_max
    ({'train': 15, 'validation': 0, 'test': 5}, 255)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .source import Loaded
from .split import stratified_split

SPLITS = ("train", "validation", "test")
SAMPLE_FILE = "heldout.npz"
SAMPLE_SIZE = 256
CALIBRATION_SIZE = 300  # raw training examples kept for an int8 export's calibration
_FIX = ("Give numpy (x, y), a dict {'train': (x, y), 'validation': (x, y), 'test': (x, y)}, or a tf.data / Grain "
        "dataset of (x, y) pairs.")


def _from_iterable(ds: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Examples or batches of a tf.data / Grain dataset, as arrays (a label of rank 0 means examples)."""
    items = ds.as_numpy_iterator() if hasattr(ds, "as_numpy_iterator") else iter(ds)
    xs, ys = [], []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) < 2:
            raise DataError("yields elements that are not (x, y) pairs", where=where, fix=_FIX)
        xs.append(np.asarray(item[0]))
        ys.append(np.asarray(item[1]))
    if not xs:
        raise DataError("yields no examples", where=where, fix=_FIX)
    if ys[0].ndim == 0:  # one example per element
        return np.stack(xs), np.stack(ys)
    return np.concatenate(xs), np.concatenate(ys)


def _pair(value: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(value, tuple | list) and len(value) == 2 and isinstance(value[1], dict):
        return _pair_per_output(value, where)
    if isinstance(value, tuple | list) and len(value) == 2:
        if isinstance(value[0], dict):  # several named inputs: kerasforge cuts them from one array (views)
            names = ", ".join(map(str, value[0]))[:200]
            raise DataError(f"gives the features as a dict of named inputs ({names})", where=where,
                            fix="Give one array with every input's features side by side, e.g. "
                                "np.concatenate([a.reshape(len(a), -1), b.reshape(len(b), -1)], axis=1), and name "
                                "the inputs with `data.views` (e.g. {a: '0:3', b: '3:5'}): the model then gets "
                                "each view as its input, and kforge predict and serve take the whole row.")
        x, y = np.asarray(value[0]), np.asarray(value[1])
    elif hasattr(value, "__iter__") and not isinstance(value, np.ndarray | dict | str):
        x, y = _from_iterable(value, where)
    else:
        raise DataError(f"is a {type(value).__name__}", where=where, fix=_FIX)
    if len(x) != len(y):
        raise DataError(f"has {len(x)} examples but {len(y)} labels", where=where,
                        fix="Give one label per example.")
    return x, y


def _pair_per_output(value: Any, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(x, {"output": y, ...})``: one label array per model output, as Keras takes ``y``."""
    x, labels = np.asarray(value[0]), value[1]
    if not labels:
        raise DataError("has an empty labels dict", where=where, fix="Give one label array per model output.")
    out = {}
    for name, y in labels.items():
        y = np.asarray(y)
        if len(y) != len(x):
            raise DataError(f"has {len(x)} examples but {len(y)} labels for the output {name!r}", where=where,
                            fix="Give one label per example for every output.")
        out[str(name)] = y
    return x, out


def _label_of(y: Any) -> np.ndarray:
    """The labels splits are stratified by: the first output's when ``y`` is one array per output."""
    return next(iter(y.values())) if isinstance(y, dict) else y


def _rows(y: Any, index: np.ndarray) -> Any:
    return {k: v[index] for k, v in y.items()} if isinstance(y, dict) else y[index]


def read_python_data(data: Any, *, test_split: float = 0.2, seed: int = 42, stratify: bool = True) -> Loaded:
    """``data`` (see the module) as a :class:`Loaded` dataset named ``python``."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(SPLITS))
        if unknown:
            raise DataError(f"has keys {', '.join(map(str, unknown))}", where="data=",
                            fix="Use the keys train, validation and test.")
        if "train" not in data:
            raise DataError("has no 'train' split", where="data=", fix=_FIX)
        splits = {k: _pair(v, f"data['{k}']") for k, v in data.items() if v is not None}
    else:
        splits = {"train": _pair(data, "data=")}
    notes = ["data given in Python (kerasforge.train(..., data=...))"]
    x, y = splits["train"]
    per_output = isinstance(y, dict)
    if per_output and any(not isinstance(v[1], dict) for v in splits.values()):
        raise DataError("gives labels per output for some splits only", where="data=",
                        fix="Give y as a dict keyed by output name in every split.")
    if per_output:
        full = splits
        splits = {k: (v[0], _label_of(v[1])) for k, v in full.items()}
        x, y = splits["train"]
    regression = y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0))
    if "test" not in splits:
        keep, carved = stratified_split(y, test_split, seed, stratify and not regression)
        splits["train"], splits["test"] = (x[keep], y[keep]), (x[carved], y[carved])
        if per_output:
            y_all = full["train"][1]
            full = {**full, "train": (None, _rows(y_all, keep)), "test": (None, _rows(y_all, carved))}
        notes.append(f"held out a test split of {len(carved)} of {len(y)} examples (test_split={test_split:g})")
    if regression:
        class_names, task = ["value"], "regression"
    else:
        classes = int(max(int(np.max(v[1])) for v in splits.values() if len(v[1])) + 1)
        class_names = [str(i) for i in range(classes)]
        task = "binary" if classes == 2 else "multiclass"
        splits = {k: (v[0], v[1].astype(np.int64)) for k, v in splits.items()}
    ds = Dataset("python", splits["train"][0], splits["train"][1], splits["test"][0], splits["test"][1],
                 class_names, task=task, source="python", notes=notes)  # type: ignore[arg-type]
    if "validation" in splits:
        ds.x_val, ds.y_val = splits["validation"]
    if per_output:  # kerasforge.data.targets gives each output its own labels
        ds.y_outputs = {k: dict(v[1]) for k, v in full.items()}
    return Loaded(ds, pixel_max=255 if ds.x_train.dtype == np.uint8 and ds.kind == "image" else None)  # type: ignore[union-attr]


def raw_sample(loaded: Any, spec: Any, n: int = SAMPLE_SIZE, seed: int = 0) -> dict[str, np.ndarray] | None:
    """The first ``n`` test examples of ``loaded`` (data read from Python, before any normalisation) with the
    recipe's colour mode and image size applied, ready for :func:`save_sample`; ``None`` for several views.
    ``calibration_x``: :data:`CALIBRATION_SIZE` training examples drawn with ``seed``, the same raw way (what
    an int8 TFLite export is calibrated on, since the data cannot be read again after training).

    >>> from kerasforge.recipe import DataSpec
    >>> loaded = read_python_data((np.zeros((10, 4, 4, 1), np.uint8), np.arange(10) % 2), test_split=0.5)
    >>> raw_sample(loaded, DataSpec(dataset="python"), 3)["x"].shape
    (3, 4, 4, 1)
    """
    from .preprocess import prepare_images

    ds = loaded.dataset
    if isinstance(ds.x_test, dict):
        return None
    x, y = np.asarray(ds.x_test[:n]).copy(), np.asarray(ds.y_test[:n]).copy()
    total = len(ds.x_train)  # training examples an int8 export is calibrated on (drawn with the recipe's seed)
    picked = np.sort(np.random.default_rng(seed).choice(total, size=min(CALIBRATION_SIZE, total), replace=False))
    calibration = np.asarray(ds.x_train[picked]).copy()
    if ds.kind == "image":  # the training's colour mode and image size, on the samples alone
        small = Dataset("sample", calibration, np.zeros(len(calibration)), x, y, list(ds.class_names), task=ds.task)
        prepare_images(small, spec.color_mode, spec.image_size, full=loaded.pixel_max or 255)
        x, calibration = np.asarray(small.x_test), np.asarray(small.x_train)
    if ds.kind == "text":  # no pickled objects in the file
        x, calibration = (np.asarray([str(t) for t in a], dtype=str) for a in (x, calibration))
    return {"x": x, "y": y, "pixel_max": np.float64(loaded.pixel_max or 0), "kind": np.asarray(ds.kind),
            "calibration_x": calibration}


def save_sample(run_dir: Path, sample: dict[str, np.ndarray]) -> None:
    """Write ``sample`` (see :func:`raw_sample`) as ``heldout.npz`` in the run folder."""
    np.savez_compressed(Path(run_dir) / SAMPLE_FILE, **sample)
