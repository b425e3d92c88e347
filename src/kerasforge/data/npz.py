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


def load_mnist_npz(path: Path, picker: Picker) -> Loaded:
    """Keras' ``mnist.npz`` (``x_train`` (N, 28, 28) uint8, ``y_train``, ``x_test``, ``y_test``)."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    arrays = load_npz(path, keys)
    require_keys(arrays, keys, path, "Keras' mnist.npz")
    tr = picker.pick(arrays["y_train"], "train")
    te = picker.pick(arrays["y_test"], "test")
    x_train, x_test = arrays["x_train"][tr], arrays["x_test"][te]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    ds = Dataset("mnist", x_train, arrays["y_train"][tr].astype(np.int64), x_test,
                 arrays["y_test"][te].astype(np.int64), list(DIGIT_CLASSES), source=str(path))
    return Loaded(ds, pixel_max=255)
