"""The in-memory dataset every loader returns and every later stage reads.

Example:
    >>> import numpy as np
    >>> ds = Dataset(name="toy", x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]),
    ...              x_test=np.zeros((2, 2)), y_test=np.array([0, 1]), class_names=["a", "b"])
    >>> ds.num_classes, ds.input_shape
    (2, (2,))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Features = np.ndarray | dict[str, np.ndarray]
# The dtype a model's input takes for each kind of features (raw text: strings, word ids: int32).
INPUT_DTYPES = {"text": "string", "sequence": "int32"}


def input_dtype(kind: str | None) -> str:
    """The model-input dtype for features of ``kind`` ("image", "sequence", "tabular", "text").

    >>> input_dtype("text"), input_dtype("image")
    ('string', 'float32')
    """
    return INPUT_DTYPES.get(kind or "", "float32")
Task = Literal["multiclass", "binary", "regression"]


@dataclass
class Dataset:
    """Train / validation / test arrays plus what is needed to read them.

    Features are in their natural layout: images ``(N, H, W, C)`` float32, integer sequences
    ``(N, maxlen)`` int32, tabular rows ``(N, F)`` float32, raw text ``(N,)`` str; a dict of such arrays
    when the data has several named views (model inputs). Labels are integer class ids ``(N,)`` for
    classification (float for regression), never one-hot: encoding for the loss happens later
    (:func:`kerasforge.data.labels.encode_labels`).
    """

    name: str
    x_train: Features
    y_train: np.ndarray
    x_test: Features
    y_test: np.ndarray
    class_names: list[str]
    x_val: Features | None = None
    y_val: np.ndarray | None = None
    task: Task = "multiclass"
    source: str = ""
    notes: list[str] = field(default_factory=list)
    # How raw inputs become features, for predicting on new data (plain JSON-able values):
    # "normalize", "offset" and "divisor" (features = (raw - offset) / divisor, per channel or column),
    # "pixel_max"; "word_index" for IMDB built from raw reviews (word -> rank, Keras' conventions).
    preprocessing: dict[str, Any] = field(default_factory=dict)
    # The decoded cache the arrays are memory-mapped from (path, reused, bytes, decode_rate), if any.
    cache: dict[str, Any] | None = None
    # Labels per model output the data brought itself (split -> output name -> array, rows as above);
    # empty for one label array. See kerasforge.data.targets.
    y_outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # (task, class names) of those outputs when the source knows them (a CSV column of words)
    output_classes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    # Where an explicit validation set (data.validation) came from: {"source": "test" | "validation" | path,
    # "examples": N[, "note"]}; None when the validation split is cut from training (or absent).
    validation_source: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (1 for regression)."""
        return len(self.class_names) if self.task != "regression" else 1

    @property
    def input_shape(self) -> tuple | dict[str, tuple]:
        """Shape of one example (or of one example per named view)."""
        if isinstance(self.x_train, dict):
            return {k: tuple(v.shape[1:]) for k, v in self.x_train.items()}
        return tuple(self.x_train.shape[1:])

    @property
    def kind(self) -> Literal["image", "sequence", "tabular", "text"]:
        """What the features are, judged from their layout."""
        x = self.x_train if not isinstance(self.x_train, dict) else next(iter(self.x_train.values()))
        if x.dtype.kind in "OUS":
            return "text"
        if x.ndim == 4:
            return "image"
        if x.ndim == 2 and x.dtype.kind in "iu":
            return "sequence"
        return "tabular"

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        def count(x: Features | None) -> int:
            if x is None:
                return 0
            return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        return {"train": count(self.x_train), "validation": count(self.x_val), "test": count(self.x_test)}
