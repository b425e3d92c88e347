"""Make one class rare in the training split, to study class imbalance on real data.

The test split is left as it is, so per-class recall on it shows what the imbalance costs.

Example:
    >>> import numpy as np
    >>> from kerasforge.data.dataset import Dataset
    >>> ds = Dataset(name="toy", x_train=np.zeros((200, 2)), y_train=np.repeat([0, 1], 100),
    ...              x_test=np.zeros((4, 2)), y_test=np.array([0, 1, 0, 1]), class_names=["a", "b"])
    >>> make_rare(ds, class_id=1, fraction=0.05, seed=0)
    >>> int((ds.y_train == 1).sum())
    5
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .dataset import Dataset


def make_rare(ds: Dataset, *, class_id: int, fraction: float, seed: int) -> None:
    """Keep only ``fraction`` of class ``class_id``'s training examples (at least one), in place."""
    if not 0 <= class_id < ds.num_classes or ds.task == "regression":
        raise DataError(f"class {class_id} does not exist (the data has {ds.num_classes} classes)",
                        where="data.imbalance.class",
                        fix=f"Use a class id from 0 to {ds.num_classes - 1}.")
    members = np.flatnonzero(ds.y_train == class_id)
    keep_n = max(1, int(round(len(members) * fraction)))
    rng = np.random.default_rng(seed)
    dropped = np.setdiff1d(members, rng.choice(members, size=keep_n, replace=False))
    kept = np.setdiff1d(np.arange(len(ds.y_train)), dropped)
    ds.x_train = ({k: v[kept] for k, v in ds.x_train.items()} if isinstance(ds.x_train, dict)
                  else ds.x_train[kept])
    ds.y_train = ds.y_train[kept]
    if ds.y_outputs.get("train"):  # per-output labels (data/targets.py) follow the same rows
        ds.y_outputs["train"] = {k: v[kept] for k, v in ds.y_outputs["train"].items()}
    share = keep_n / len(kept)
    ds.notes.append(f"made class {ds.class_names[class_id]!r} rare: kept {keep_n} of its {len(members)} "
                    f"training examples ({share:.1%} of the training split); the test split is unchanged")
