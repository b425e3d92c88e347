"""Per-batch scaling on the host, for models that cannot take the scaling layer.

A subclassed model (its own ``call``/``train_step``) or one with several inputs cannot be given
:data:`~kerasforge.data.scaling.SCALING_LAYER` as a first layer. Its pixels still stay ``uint8`` on the
host: :func:`scale_per_batch` wraps each split in :class:`ScaledRows`, an array-like whose rows come out
scaled (``(x - offset) / divisor`` in float32) only when they are read — a batch at a time by the
streaming pipeline (:mod:`kerasforge.data.stream`), a chunk at a time by the evaluation and the report.
The run records the real offset and divisor in ``data.json`` (as a model trained on host-scaled data
always did), so ``kforge predict``, the exports and ``kforge serve`` scale raw inputs the same way.

Example:
    >>> import numpy as np
    >>> rows = ScaledRows(np.full((3, 2, 2, 1), 51, np.uint8), [0.0], [255.0], (2, 2, 1))
    >>> rows.shape, rows.dtype, rows.nbytes, round(float(rows[1:2].max()), 6)
    ((3, 2, 2, 1), dtype('float32'), 12, 0.2)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .dataset import Dataset
from .scaling import scale_batch, why_not_inside
from .stream import RowReader

ADAPT_BATCH = 1024  # rows per batch when the rows are iterated (Layer.adapt)


class ScaledRows:
    """Rows of raw values (``uint8`` pixels, raw table features) that read as the training scale.

    Indexing (an int, a slice, an index or boolean array) returns a scaled float32 ``ndarray`` of those
    rows only; ``nbytes`` is what is resident (the raw array's). ``np.asarray(rows)`` scales every row at
    once — the float32 copy this class exists to avoid, used only where nothing else fits.
    """

    dtype = np.dtype("float32")

    def __init__(self, raw: np.ndarray, offset: Any, divisor: Any, natural_shape: tuple) -> None:
        self.raw, self.natural_shape = raw, tuple(natural_shape)
        self.offset = np.asarray(offset, np.float32)
        self.divisor = np.asarray(divisor, np.float32)
        self._reader = RowReader(raw)

    @property
    def shape(self) -> tuple:
        return tuple(self.raw.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(self.raw.nbytes)

    def __len__(self) -> int:
        return len(self.raw)

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """Raw ``rows`` (any leading count, the fitted layout) to the training scale, same layout."""
        natural = np.asarray(rows).reshape((len(rows), *self.natural_shape))
        return scale_batch(natural, {"offset": self.offset, "divisor": self.divisor}).reshape(rows.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, int | np.integer):
            return self[np.asarray([index])][0]
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return self.scale(self._reader.read(index.astype(np.int64)))

    def __iter__(self) -> Iterator[np.ndarray]:
        """Scaled batches of :data:`ADAPT_BATCH` rows — what Keras' ``Layer.adapt`` takes as "an iterable of
        batches", so a model's own ``Normalization`` adapts without a float32 copy of the split."""
        for start in range(0, len(self), ADAPT_BATCH):
            yield self[start:start + ADAPT_BATCH]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def _plain(values: list[float], scalar: bool) -> Any:
    """As :func:`kerasforge.data.preprocess.normalize` records them: one number, or one per channel."""
    return float(values[0]) if scalar and len(values) == 1 else [float(v) for v in values]


def scale_per_batch(ds: Dataset, x: dict[str, Any], model: Any, natural_shape: tuple) -> dict[str, Any]:
    """``x`` (the splits fitted to ``model``, raw) wrapped in :class:`ScaledRows` with ``ds``'s pending
    normalisation, which is recorded in ``ds.preprocessing`` as the model sees it (real offset and
    divisor, so predictions and exports scale raw inputs on the host too); a note says why."""
    pending = ds.preprocessing.pop("pending")
    how = pending.get("normalize")
    scalar = how == "none" or (how == "scale" and ds.kind == "image")
    offset, divisor = _plain(pending["offset"], scalar), _plain(pending["divisor"], scalar)
    ds.preprocessing.update(normalize=how, offset=offset, divisor=divisor, pixel_max=pending.get("pixel_max"))
    kept = "kept pixels as uint8" if ds.kind == "image" else "kept the features raw"
    values = f"(x - {offset}) / {divisor}" if len(pending["offset"]) <= 8 else "per feature, in data.json"
    ds.notes.append(f"{kept}; each batch is scaled on the host as it is read ({how}: {values}), because "
                    f"{why_not_inside(model)} and cannot take a scaling layer")

    def wrap(value: Any, shape: tuple) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):  # several inputs: per-channel values broadcast over each one's last axis
            return {k: wrap(v, tuple(v.shape[1:])) for k, v in value.items()}
        return ScaledRows(value, pending["offset"], pending["divisor"], shape)

    return {split: wrap(value, natural_shape) for split, value in x.items()}

