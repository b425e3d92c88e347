"""Examples in RAW form (pixels 0..255, word ids, text): held-out test examples to verify exports on, and
training examples to calibrate a full-integer quantization with — recreated from a run's recipe, or, when the
data was given in Python (``kerasforge.train(recipe, data=...)``), the held-out ones read from the sample the
training saved into the run folder (``heldout.npz``: the first test examples, raw, with their labels).

Example:
    >>> x, y = held_out_examples(run, 256)   # doctest: +SKIP
    >>> x.shape, float(x.max()) <= 255.0      # doctest: +SKIP
    ((256, 28, 28, 1), True)
    >>> representative_examples(run, 300).shape   # doctest: +SKIP
    (300, 28, 28, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.python_data import SAMPLE_FILE, SAMPLE_SIZE
from .errors import ExportError

REPRESENTATIVE_EXAMPLES = 300  # training examples an int8 quantization is calibrated on


def _from_python(run) -> bool:
    return run.recipe.data.dataset == "python" or (run.data_info or {}).get("dataset") == "python"


def _saved_sample(run, n: int) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    file = Path(run.path) / SAMPLE_FILE
    if not file.is_file():
        raise ExportError("the run was trained on data given in Python and its held-out sample "
                          f"({SAMPLE_FILE}) is not in the run folder, so the export cannot be verified",
                          where=str(file),
                          fix="Train the run again with this kerasforge version (it saves the sample), or give "
                              "the data in the recipe's data: section.")
    try:
        with np.load(file, allow_pickle=False) as saved:
            x, y, kind, pixel_max = saved["x"][:n], saved["y"][:n], str(saved["kind"]), float(saved["pixel_max"])
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"the run's held-out sample cannot be read ({exc.__class__.__name__}: {exc})",
                          where=str(file), fix="Train the run again; the sample is written at training time.") from None
    return x, y, kind, pixel_max or None


def held_out_examples(run, n: int = SAMPLE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test examples of ``run``'s data, before normalisation, with their class ids.

    Images come as float32 pixels 0..255 in their natural layout (after the recipe's colour mode and image
    size), sequences as int32 word ids, text as strings, tabular rows as float32 raw values.
    """
    if _from_python(run):
        x, y, kind, pixel_max = _saved_sample(run, n)
        return _raw(x, kind, pixel_max), np.asarray(y)
    loaded = _load(run, "test")
    ds = loaded.dataset
    return _raw(ds.x_test[:n], ds.kind, loaded.pixel_max), np.asarray(ds.y_test[:n])


def representative_examples(run, n: int = REPRESENTATIVE_EXAMPLES) -> np.ndarray:
    """``n`` examples of ``run``'s TRAINING data (the validation part carved as the training carved it, left
    out), drawn without replacement with the recipe's seed, in the same raw form as
    :func:`held_out_examples` (what the exports take)."""
    from ..data.imbalance import make_rare
    from ..data.split import split_validation

    if _from_python(run):  # the data is gone: the raw training examples the run kept for this
        return _saved_calibration(run, n)
    loaded = _load(run, "training")
    ds, recipe = loaded.dataset, run.recipe
    if recipe.data.imbalance:  # the training's own steps, in its order (see kerasforge.pipeline)
        make_rare(ds, class_id=recipe.data.imbalance.class_id, fraction=recipe.data.imbalance.fraction,
                  seed=recipe.seed)
    ds = split_validation(ds, recipe.train.validation_split, seed=recipe.seed, stratify=recipe.data.stratify)
    total = len(ds.x_train)
    if total == 0:
        raise ExportError("the run's training data is empty, so there is nothing to calibrate an int8 "
                          "quantization on", where=f"{run.path}/recipe.yaml (data)",
                          fix="Use --quantize dynamic or float16, which need no calibration data.")
    picked = np.sort(np.random.default_rng(run.recipe.seed).choice(total, size=min(n, total), replace=False))
    x = _raw(ds.x_train[picked], ds.kind, loaded.pixel_max)
    return _pin_pixel_range(x) if ds.kind == "image" else x


def _saved_calibration(run, n: int) -> np.ndarray:
    file = Path(run.path) / SAMPLE_FILE
    try:
        with np.load(file, allow_pickle=False) as saved:
            x, kind, pixel_max = saved["calibration_x"][:n], str(saved["kind"]), float(saved["pixel_max"])
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError("the run was trained on data given in Python and its folder keeps no training examples "
                          f"to calibrate an int8 quantization on ({exc.__class__.__name__}: {exc})", where=str(file),
                          fix="Train the run again with this kerasforge version (it keeps 300 raw training examples "
                              "in heldout.npz), or use --quantize dynamic or float16.") from None
    if not len(x):
        raise ExportError("the run's training data was empty, so there is nothing to calibrate an int8 quantization "
                          "on", where=str(file), fix="Use --quantize dynamic or float16.")
    x = _raw(x, kind, pixel_max or None)
    return _pin_pixel_range(x) if kind == "image" else x


def _pin_pixel_range(x: np.ndarray) -> np.ndarray:
    """Make the calibration see the full pixel range 0..255 (one pixel of one example set to each end when the
    drawn images lack it), so an int8 export's uint8 input maps a raw pixel to itself (scale 1, zero point 0)."""
    x = np.array(x, dtype=np.float32, copy=True)
    if x.size and float(x.min()) > 0.0:
        x.flat[int(np.argmin(x))] = 0.0
    if x.size and float(x.max()) < 255.0:
        x.flat[int(np.argmax(x))] = 255.0
    return x


def _load(run, split: str):
    from ..data.loader import load_raw
    from ..data.locate import DatasetNotFoundError

    try:
        loaded = load_raw(run.recipe.data, run.recipe.seed,  # the training's pick: its decoded cache is reused
                          validation_split=0.0 if run.recipe.data.imbalance else run.recipe.train.validation_split)
    except DatasetNotFoundError as exc:
        raise ExportError(f"the run's {split} data cannot be found to "
                          f"{'verify' if split == 'test' else 'calibrate'} the export ({exc})",
                          where=f"{run.path}/recipe.yaml (data)",
                          fix="Make the dataset available again (see `kforge check`).") from exc
    if isinstance(loaded.dataset.x_test, dict):
        raise ExportError("the data has several named views; exports take one raw input",
                          where=f"{run.path}/recipe.yaml (data.views)", fix="Export a single-input run.")
    return loaded


def _raw(x, kind: str, pixel_max: float | None) -> np.ndarray:
    if kind == "image":
        return np.asarray(x, dtype=np.float32) * np.float32(255.0 / float(pixel_max or 255.0))
    if kind == "sequence":
        return np.asarray(x, dtype=np.int32)
    if kind == "text":
        return np.asarray(x, dtype=object)
    return np.asarray(x, dtype=np.float32)
