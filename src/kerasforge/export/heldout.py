"""Held-out examples in RAW form (pixels 0..255, word ids, text): recreated from a run's recipe, or, when
the data was given in Python (``kerasforge.train(recipe, data=...)``), read from the sample the training
saved into the run folder (``heldout.npz``: the first test examples, raw, with their labels).

Example:
    >>> x, y = held_out_examples(run, 256)   # doctest: +SKIP
    >>> x.shape, float(x.max()) <= 255.0      # doctest: +SKIP
    ((256, 28, 28, 1), True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.python_data import SAMPLE_FILE, SAMPLE_SIZE
from .errors import ExportError


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
    else:
        x, y, kind, pixel_max = _from_recipe(run, n)
    if kind == "image":
        x = np.asarray(x, dtype=np.float32) * np.float32(255.0 / float(pixel_max or 255.0))
    elif kind == "sequence":
        x = np.asarray(x, dtype=np.int32)
    elif kind == "text":
        x = np.asarray(x, dtype=object)
    else:
        x = np.asarray(x, dtype=np.float32)
    return x, y


def _from_recipe(run, n: int) -> tuple[Any, np.ndarray, str, float | None]:
    from ..data.loader import load_raw
    from ..data.locate import DatasetNotFoundError

    try:
        loaded = load_raw(run.recipe.data, run.recipe.seed,  # the training's pick: its decoded cache is reused
                          validation_split=0.0 if run.recipe.data.imbalance else run.recipe.train.validation_split)
    except DatasetNotFoundError as exc:
        raise ExportError(f"the run's test data cannot be found to verify the export ({exc})",
                          where=f"{run.path}/recipe.yaml (data)",
                          fix="Make the dataset available again (see `kforge check`).") from exc
    ds = loaded.dataset
    if isinstance(ds.x_test, dict):
        raise ExportError("the data has several named views; exports take one raw input",
                          where=f"{run.path}/recipe.yaml (data.views)", fix="Export a single-input run.")
    return ds.x_test[:n], np.asarray(ds.y_test[:n]), ds.kind, loaded.pixel_max
