"""IDX files (the official MNIST / Fashion-MNIST format), gzipped or not.

Example:
    >>> from pathlib import Path
    >>> find_idx_folder(Path("/usr/share/datasets/fashion-mnist"))   # doctest: +SKIP
    PosixPath('/usr/share/datasets/fashion-mnist')
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .named_cache import cached_array
from .source import Loaded
from .split import Picker

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _variant(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx_folder(folder: Path) -> Path | None:
    """``folder`` when it holds the four IDX files (``train-images-idx3-ubyte[.gz]`` ...), else None."""
    if folder.is_dir() and all(_variant(folder, stem) for stem in IDX_FILES.values()):
        return folder
    return None


def read_idx(path: Path) -> np.ndarray:
    """One IDX file as an array of its stored shape and type.

    >>> read_idx(Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")).shape  # doctest: +SKIP
    (10000,)
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot be read as an IDX file ({exc})", where=str(path),
                        fix="The file is damaged or truncated: fetch it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError("is not an IDX file (wrong magic number)", where=str(path),
                        fix="Give the official train-/t10k- images and labels files.")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"holds {data.size} values where its header announces {dims}", where=str(path),
                        fix="The file is truncated: fetch it again.")
    return data.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def load_idx_folder(folder: Path, name: str, class_names: list[str], picker: Picker) -> Loaded:
    """The four IDX files of ``folder`` as a (train, test) image dataset (N, 28, 28, 1) uint8."""
    arrays = {key: cached_array(_variant(folder, stem), read_idx)  # type: ignore[arg-type]
              for key, stem in IDX_FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(f"the {split} images and labels differ in number", where=str(folder),
                            fix="Use images and labels files of the same release.")
    tr = picker.pick(arrays["y_train"], "train")
    te = picker.pick(arrays["y_test"], "test")
    ds = Dataset(name=name, x_train=arrays["x_train"][tr][..., None], y_train=arrays["y_train"][tr].astype(np.int64),
                 x_test=arrays["x_test"][te][..., None], y_test=arrays["y_test"][te].astype(np.int64),
                 class_names=list(class_names), source=str(folder))
    return Loaded(ds, pixel_max=255)
