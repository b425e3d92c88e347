"""The ``data`` stage: from a recipe's ``data:`` section to a prepared :class:`Dataset`.

Example:
    >>> from kerasforge.recipe import DataSpec
    >>> from kerasforge.data import load_dataset, split_validation
    >>> ds = split_validation(load_dataset(DataSpec(dataset="digits", subset=300), seed=1), 0.1, seed=1)
    >>> ds.sizes()
    {'train': 270, 'validation': 30, 'test': 300}

Public API: :func:`load_dataset`, :func:`split_validation`, :func:`fit_features`, :func:`default_loss`,
:func:`label_encoding_for`, :func:`encode_labels`, :func:`class_weights`, :class:`Dataset`,
:class:`DatasetNotFoundError`.
"""

from __future__ import annotations

from .dataset import Dataset, Features, Task
from .fit import fit_features
from .labels import class_weights, default_loss, encode_labels, label_encoding_for, normalize_loss_name
from .loader import load_dataset
from .locate import DatasetNotFoundError
from .split import split_validation

__all__ = [
    "Dataset", "DatasetNotFoundError", "Features", "Task", "class_weights", "default_loss", "encode_labels",
    "fit_features", "label_encoding_for", "load_dataset", "normalize_loss_name", "split_validation",
]
