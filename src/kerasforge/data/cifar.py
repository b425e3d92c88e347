"""CIFAR-10: the JPEG pack ``cifar10-jpeg.npz`` and Keras' pickled ``cifar-10-batches-py`` folder.

Example:
    >>> from pathlib import Path
    >>> find_batches_folder(Path.home() / ".keras" / "datasets")   # doctest: +SKIP
    PosixPath('/root/.keras/datasets/cifar-10-batches-py-target_extracted/cifar-10-batches-py')
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .dataset import Dataset
from .npz import SafeUnpickler, load_npz, require_keys
from .source import Loaded
from .split import Picker

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PACK_NAME = "cifar10-jpeg.npz"
BATCHES = "cifar-10-batches-py"


def find_batches_folder(root: Path) -> Path | None:
    """The ``cifar-10-batches-py`` folder in ``root`` (old Keras), in ``root/*_extracted/`` (Keras ≥ 3.8),
    or ``root`` itself."""
    extracted = sorted(root.glob(f"*_extracted/{BATCHES}")) if root.is_dir() else []
    for folder in (root, root / BATCHES, *extracted):
        if (folder / "data_batch_1").is_file() and (folder / "test_batch").is_file():
            return folder
    return None


# ---------------------------------------------------------------------------------------------------
# The JPEG pack
# ---------------------------------------------------------------------------------------------------
def load_jpeg_pack(path: Path, picker: Picker) -> Loaded:
    """``cifar10-jpeg.npz``: JPEG bytes + offsets + labels per split. Only the chosen images are
    decoded; the pack is stored sorted by class, so the order is always shuffled with the seed."""
    keys = tuple(f"{s}_{k}" for s in ("train", "test") for k in ("jpeg", "offsets", "labels")) + ("classes",)
    arrays = load_npz(path, keys)
    require_keys(arrays, keys, path, "a CIFAR-10 JPEG pack")
    splits = {}
    for split in ("train", "test"):
        labels = arrays[f"{split}_labels"].astype(np.int64)
        index = picker.pick(labels, split, shuffle=True)
        images = _decode(arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"], index, path)
        splits[split] = (images, labels[index])
    classes = [str(c) for c in arrays["classes"]]
    ds = Dataset("cifar10", splits["train"][0], splits["train"][1], splits["test"][0], splits["test"][1],
                 classes, source=str(path))
    return Loaded(ds, pixel_max=255)


def _decode(buf: np.ndarray, offsets: np.ndarray, index: np.ndarray, path: Path) -> np.ndarray:
    out = np.empty((len(index), 32, 32, 3), np.uint8)
    for row, i in enumerate(index):
        try:
            with Image.open(io.BytesIO(buf[offsets[i]:offsets[i + 1]].tobytes())) as img:
                out[row] = np.asarray(img.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"image {int(i)} of the pack cannot be decoded ({exc})", where=str(path),
                            fix="The file is damaged: fetch it again.") from None
    return out


# ---------------------------------------------------------------------------------------------------
# Keras' pickled batches
# ---------------------------------------------------------------------------------------------------
def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = SafeUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
        return data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1), labels
    except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise DataError(f"is not a CIFAR-10 batch ({exc})", where=str(path),
                        fix="The cifar-10-batches-py folder is damaged: delete it and fetch it again.") from None


def load_batches(folder: Path, picker: Picker) -> Loaded:
    """Keras' ``cifar-10-batches-py``: ``data_batch_1..5`` and ``test_batch`` (pickled dicts with
    ``b"data"`` (N, 3072) uint8 and ``b"labels"``), class names from ``batches.meta``."""
    parts = [_read_batch(p) for p in sorted(folder.glob("data_batch_[0-9]*"))]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_batch(folder / "test_batch")
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                names = SafeUnpickler(f, encoding="bytes").load().get(b"label_names")
            if names:
                classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        except (OSError, EOFError, AttributeError, pickle.UnpicklingError):
            pass  # the names are the well-known ones anyway
    tr = picker.pick(y_train, "train", shuffle=True)
    te = picker.pick(y_test, "test")
    ds = Dataset("cifar10", x_train[tr], y_train[tr], x_test[te], y_test[te], classes, source=str(folder))
    return Loaded(ds, pixel_max=255)
