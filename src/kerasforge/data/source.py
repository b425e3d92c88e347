"""What every source reader hands back before preprocessing.

Example:
    >>> import numpy as np
    >>> from kerasforge.data.dataset import Dataset
    >>> raw = Loaded(Dataset("toy", np.zeros((2, 8, 8, 1), "uint8"), np.array([0, 1]),
    ...                      np.zeros((1, 8, 8, 1), "uint8"), np.array([0]), ["a", "b"]), pixel_max=255)
    >>> raw.pixel_max
    255
"""

from __future__ import annotations

from dataclasses import dataclass

from .dataset import Dataset

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]
IMDB_CLASSES = ["negative", "positive"]


@dataclass
class Loaded:
    """A dataset as read: images still in their stored range (``pixel_max`` is full intensity, e.g.
    255 or 16), not normalised; ``feature_columns`` names the CSV column each tabular feature came from."""

    dataset: Dataset
    pixel_max: float | None = None
    feature_columns: list[str] | None = None
