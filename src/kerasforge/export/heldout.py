"""Held-out examples in RAW form (pixels 0..255, word ids, text), recreated from a run's recipe.

Example:
    >>> x, y = held_out_examples(run, 256)   # doctest: +SKIP
    >>> x.shape, float(x.max()) <= 255.0      # doctest: +SKIP
    ((256, 28, 28, 1), True)
"""

from __future__ import annotations

import numpy as np

from .errors import ExportError


def held_out_examples(run, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test examples of ``run``'s data, before normalisation, with their class ids.

    Images come as float32 pixels 0..255 in their natural layout (after the recipe's colour mode and image
    size), sequences as int32 word ids, text as strings, tabular rows as float32 raw values.
    """
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
    x, y = ds.x_test[:n], np.asarray(ds.y_test[:n])
    if ds.kind == "image":
        x = np.asarray(x, dtype=np.float32) * np.float32(255.0 / float(loaded.pixel_max or 255.0))
    elif ds.kind == "sequence":
        x = np.asarray(x, dtype=np.int32)
    elif ds.kind == "text":
        x = np.asarray(x, dtype=object)
    else:
        x = np.asarray(x, dtype=np.float32)
    return x, y
