"""Examples in RAW form (pixels 0..255, word ids, text), recreated from a run's recipe: held-out test
examples to verify exports on, and training examples to calibrate a full-integer quantization with.

Example:
    >>> x, y = held_out_examples(run, 256)   # doctest: +SKIP
    >>> x.shape, float(x.max()) <= 255.0      # doctest: +SKIP
    ((256, 28, 28, 1), True)
    >>> representative_examples(run, 300).shape   # doctest: +SKIP
    (300, 28, 28, 1)
"""

from __future__ import annotations

import numpy as np

from .errors import ExportError

REPRESENTATIVE_EXAMPLES = 300  # training examples an int8 quantization is calibrated on


def held_out_examples(run, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test examples of ``run``'s data, before normalisation, with their class ids.

    Images come as float32 pixels 0..255 in their natural layout (after the recipe's colour mode and image
    size), sequences as int32 word ids, text as strings, tabular rows as float32 raw values.
    """
    loaded = _load(run, "test")
    ds = loaded.dataset
    return _raw(ds.x_test[:n], ds.kind, loaded.pixel_max), np.asarray(ds.y_test[:n])


def representative_examples(run, n: int = REPRESENTATIVE_EXAMPLES) -> np.ndarray:
    """``n`` examples of ``run``'s TRAINING data (the validation part carved as the training carved it, left
    out), drawn without replacement with the recipe's seed, in the same raw form as
    :func:`held_out_examples` (what the exports take)."""
    from ..data.imbalance import make_rare
    from ..data.split import split_validation

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
