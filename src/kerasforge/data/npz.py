"""``.npz`` archives read safely (object arrays without arbitrary unpickling), and Keras' ``mnist.npz``.

Example:
    >>> arrays = load_npz("mnist.npz")   # doctest: +SKIP
    >>> arrays["x_train"].shape           # doctest: +SKIP
    (60000, 28, 28)
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .source import DIGIT_CLASSES, Loaded
from .split import Picker

# Rebuilding a numpy array from a pickle needs exactly these globals; anything else in a data file
# (os.system, eval...) would be code, so it is refused. numpy < 2 and >= 2 spell multiarray differently.
_ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                      ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")})


class SafeUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python containers only."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _read_member(raw: bytes) -> np.ndarray:
    buf = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(buf, allow_pickle=False)
    except ValueError:  # an object array: skip the header, unpickle with the restricted unpickler
        buf.seek(0)
        major, _ = np.lib.format.read_magic(buf)
        if major == 1:
            np.lib.format.read_array_header_1_0(buf)
        else:
            np.lib.format.read_array_header_2_0(buf)
        return SafeUnpickler(buf).load()


def load_npz(path: str | Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (only ``keys`` when given), object arrays included, read safely."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            out = {}
            for member in archive.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                if keys is not None and key not in keys:
                    continue
                out[key] = _read_member(archive.read(member))
            return out
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"cannot be read as a NumPy .npz file ({exc})", where=str(path),
                        fix="The file is damaged or not an .npz archive: fetch it again.") from None


def require_keys(arrays: dict[str, np.ndarray], keys: tuple[str, ...], path: Path, what: str) -> None:
    """A DataError when an ``.npz`` lacks one of ``keys``."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DataError(f"is not {what}: it lacks {', '.join(missing)} (it holds {', '.join(sorted(arrays)) or 'nothing'})",
                        where=str(path), fix=f"Give a file with the arrays {', '.join(keys)}.")


def check_image_arrays(x: Any, y: Any, path: Path, split: str, *, classes: int) -> None:
    """A DataError unless ``x`` is (N, H, W[, C]) numbers and ``y`` N whole class ids below ``classes``."""
    def bad(what: str) -> DataError:
        return DataError(f"x_{split}/y_{split} {what}", where=str(path),
                         fix="The file is damaged or not Keras' format: fetch it again.")

    for name, a in ((f"x_{split}", x), (f"y_{split}", y)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
            kind = getattr(getattr(a, "dtype", None), "name", type(a).__name__)
            raise bad(f"must be numeric arrays; {name} holds {kind} values")
    if x.ndim not in (3, 4) or x.shape[0] == 0:
        raise bad(f"must be images shaped (N, height, width[, channels]); x_{split} is {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise bad(f"must have one label per image; shapes {x.shape} and {y.shape}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise bad("hold NaN or infinite pixels")
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise bad("labels must be whole class ids")
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise bad(f"labels must be class ids 0 to {classes - 1}; found {y.min()} to {y.max()}")


def output_label_keys(path: Path) -> list[str]:
    """Output names ``X`` whose labels an ``.npz`` holds as ``y_train_X`` and ``y_test_X`` (labels per output)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {m[:-4] if m.endswith(".npy") else m for m in archive.namelist()}
    except (zipfile.BadZipFile, OSError):
        return []
    return sorted(k[len("y_train_"):] for k in names if k.startswith("y_train_") and f"y_test_{k[8:]}" in names)


def load_mnist_npz(path: Path, picker: Picker) -> Loaded:
    """Keras' ``mnist.npz`` (``x_train`` (N, 28, 28) uint8, ``y_train``, ``x_test``, ``y_test``), plus the
    labels of other model outputs as ``y_train_<output>``/``y_test_<output>`` when the file has them."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    extra = output_label_keys(path)
    arrays = load_npz(path, (*keys, *(f"y_{s}_{o}" for o in extra for s in ("train", "test"))))
    require_keys(arrays, keys, path, "Keras' mnist.npz")
    for split in ("train", "test"):
        check_image_arrays(arrays[f"x_{split}"], arrays[f"y_{split}"], path, split, classes=len(DIGIT_CLASSES))
    tr = picker.pick(arrays["y_train"], "train")
    te = picker.pick(arrays["y_test"], "test")
    x_train, x_test = arrays["x_train"][tr], arrays["x_test"][te]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    ds = Dataset("mnist", x_train, arrays["y_train"][tr].astype(np.int64), x_test,
                 arrays["y_test"][te].astype(np.int64), list(DIGIT_CLASSES), source=str(path))
    for out in extra:  # labels per output (kerasforge.data.targets): the same rows as y_train / y_test
        for split, index in (("train", tr), ("test", te)):
            y = arrays[f"y_{split}_{out}"]
            if not isinstance(y, np.ndarray) or y.dtype.kind not in "biuf" or len(y) != len(arrays[f"y_{split}"]):
                raise DataError(f"y_{split}_{out} must hold one number per example, like y_{split}", where=str(path),
                                fix=f"Give y_{split}_{out} as {len(arrays[f'y_{split}'])} numbers (labels of the "
                                    f"output {out!r}).")
            ds.y_outputs.setdefault(split, {})[out] = y[index]
    return Loaded(ds, pixel_max=255)
