"""Splits and subsets, stratified and deterministic with the seed.

Example:
    >>> import numpy as np
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> train, test = stratified_split(y, 0.25, seed=0)
    >>> len(test), int((y[test] == 1).sum())
    (25, 5)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .dataset import Dataset, Features
from .named_cache import cached_indices

SPLIT_WORDS = {"train": "training", "test": "test", "validation": "validation"}
_SPLIT_SALT = {"train": 0, "test": 1, "validation": 2}


def is_classification(y: np.ndarray) -> bool:
    """True for integer class ids (what stratification needs)."""
    return np.asarray(y).dtype.kind in "iub"


def _stratify_by(y: np.ndarray, stratify: bool) -> np.ndarray | None:
    if not stratify or not is_classification(y):
        return None
    return y


def train_test_split(*args, **kwargs):
    """scikit-learn's ``train_test_split``, imported when first needed (a second of start-up otherwise)."""
    from sklearn.model_selection import train_test_split as split

    return split(*args, **kwargs)


@cached_indices
def stratified_split(y: np.ndarray, fraction: float, seed: int,
                     stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, carved)`` with ``fraction`` of the examples carved out, per class when possible.

    Falls back to a plain random split when a class is too small to be split.

    >>> keep, carved = stratified_split(np.array([0, 1] * 10), 0.2, seed=1)
    >>> len(keep), len(carved)
    (16, 4)
    """
    index = np.arange(len(y))
    if fraction <= 0 or len(y) < 2:
        return index, index[:0]
    n_carved = max(1, int(round(len(y) * fraction)))
    if n_carved >= len(y):
        n_carved = len(y) - 1
    try:
        keep, carved = train_test_split(index, test_size=n_carved, random_state=seed,
                                        stratify=_stratify_by(y, stratify))
    except ValueError:  # a class with a single example, or fewer examples than classes
        keep, carved = train_test_split(index, test_size=n_carved, random_state=seed)
    return np.asarray(keep), np.asarray(carved)


def subset_indices(y: np.ndarray, n: int | None, seed: int, stratify: bool = True,
                   shuffle: bool = False) -> np.ndarray:
    """Indices of ``n`` examples keeping the class proportions (all of them when ``n`` ≥ ``len(y)``).

    The result is in shuffled order when a subset is taken or ``shuffle`` is true.

    >>> y = np.array([0] * 50 + [1] * 50)
    >>> np.bincount(y[subset_indices(y, 10, seed=0)]).tolist()
    [5, 5]
    """
    index = np.arange(len(y))
    if n is None or n >= len(y):
        return np.random.default_rng(seed).permutation(index) if shuffle else index
    return _subset(y, n, seed, stratify)


@cached_indices
def _subset(y: np.ndarray, n: int, seed: int, stratify: bool) -> np.ndarray:
    index = np.arange(len(y))
    try:
        chosen, _ = train_test_split(index, train_size=n, random_state=seed, stratify=_stratify_by(y, stratify))
    except ValueError:  # fewer examples asked than classes, or a class of one
        chosen, _ = train_test_split(index, train_size=n, random_state=seed)
    return np.asarray(chosen)


@dataclass
class Picker:
    """Chooses which examples of each split to load (``subset``), before anything costly is decoded.

    Loaders call :meth:`pick` with a split's labels and decode only the returned indices; a note
    such as "took a stratified subset of 2000 of 60000 training examples" is recorded.
    """

    subset: int | None
    seed: int
    stratify: bool = True
    notes: list[str] = field(default_factory=list)

    def pick(self, y: np.ndarray, split: str, shuffle: bool = False) -> np.ndarray:
        """Indices to keep of split ``split`` ("train", "test" or "validation")."""
        y = np.asarray(y)
        seed = self.seed * 3 + _SPLIT_SALT.get(split, 0)
        index = subset_indices(y, self.subset, seed, self.stratify, shuffle)
        if self.subset is not None and self.subset < len(y):
            kind = "stratified " if self.stratify and is_classification(y) else "random "
            self.notes.append(f"took a {kind}subset of {len(index)} of {len(y)} "
                              f"{SPLIT_WORDS.get(split, split)} examples")
        return index

    def carve_test(self, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Split a source with no test set of its own into (train, test) indices; notes it."""
        train, test = stratified_split(np.asarray(y), fraction, self.seed, self.stratify)
        if len(test):
            kind = "stratified " if self.stratify and is_classification(np.asarray(y)) else ""
            self.notes.append(f"held out a {kind}test split of {len(test)} of {len(y)} examples "
                              f"(test_split={fraction:g})")
        return train, test


def take(x: Features, index: np.ndarray) -> Features:
    """Rows ``index`` of an array or of every array of a dict of views (a lazy view of texts still in the
    decoded cache, :class:`~kerasforge.data.text_cache.CachedTexts`, stays lazy)."""
    if isinstance(x, dict):
        return {k: take(v, index) for k, v in x.items()}
    return x.subset(index) if hasattr(x, "subset") else x[index]


def split_validation(ds: Dataset, fraction: float, seed: int, stratify: bool = True) -> Dataset:
    """A copy of ``ds`` with ``x_val``/``y_val`` carved from the training split.

    Stratified by label for classification; unchanged when ``ds`` already has a validation set or
    ``fraction`` is 0.

    >>> ds = Dataset("toy", np.zeros((10, 2)), np.array([0, 1] * 5), np.zeros((2, 2)), np.array([0, 1]), ["a", "b"])
    >>> split_validation(ds, 0.2, seed=0).sizes()
    {'train': 8, 'validation': 2, 'test': 2}
    """
    if ds.x_val is not None or fraction <= 0:
        return ds
    keep, carved = stratified_split(np.asarray(ds.y_train), fraction, seed,
                                    stratify and ds.task != "regression")
    notes = [*ds.notes, f"held out {len(carved)} of {len(ds.y_train)} training examples for validation"
             f" (validation_split={fraction:g})"]
    outputs = dict(ds.y_outputs)  # per-output labels (data/targets.py) follow the same rows
    if outputs.get("train"):
        train = outputs["train"]
        outputs["train"], outputs["validation"] = ({k: v[keep] for k, v in train.items()},
                                                   {k: v[carved] for k, v in train.items()})
    return dataclasses.replace(ds, x_train=take(ds.x_train, keep), y_train=ds.y_train[keep],
                               x_val=take(ds.x_train, carved), y_val=ds.y_train[carved], notes=notes,
                               y_outputs=outputs)
