"""Preparing loaded arrays: colour mode, image size, normalisation (from training statistics), views.

Example:
    >>> import numpy as np
    >>> convert_color(np.full((1, 2, 2, 1), 200, np.uint8), "rgb", full=255).shape
    (1, 2, 2, 3)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import DataError, did_you_mean
from .dataset import Dataset

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_LUMA = np.asarray([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's convert("L")
_SPLITS = ("x_train", "x_val", "x_test")


def _arrays(ds: Dataset):
    for attr in _SPLITS:
        x = getattr(ds, attr)
        if x is not None:
            yield attr, x


# ---------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------
def convert_color(x: np.ndarray, mode: str, full: float) -> np.ndarray:
    """Images (N, H, W, C) to ``mode``'s channels (grayscale 1, rgb 3, rgba 4); ``full`` is the value
    of an opaque alpha channel."""
    have, want = x.shape[-1], CHANNELS[mode]
    if have == want:
        return x
    rgb = np.repeat(x, 3, axis=-1) if have == 1 else x[..., :3]
    if want == 1:
        gray = rgb.astype(np.float32) @ _LUMA.astype(np.float32)
        return (np.rint(gray) if x.dtype.kind in "iu" else gray).astype(x.dtype)[..., None]
    if want == 3:
        return rgb
    return np.concatenate([rgb, np.full(rgb.shape[:-1] + (1,), full, rgb.dtype)], axis=-1)


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Images (N, H, W, C) resized to ``size`` = (height, width), bilinear (Keras' default)."""
    h, w = size
    if x.shape[1:3] == (h, w):
        return x
    out = np.empty((len(x), h, w, x.shape[-1]), np.uint8 if x.dtype == np.uint8 else np.float32)
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    for i, img in enumerate(x):
        if x.dtype == np.uint8 and img.shape[-1] in modes:
            pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img, modes[img.shape[-1]])
            out[i] = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR)).reshape(h, w, -1)
        else:  # other types: one 32-bit float plane per channel
            for c in range(img.shape[-1]):
                plane = Image.fromarray(img[..., c].astype(np.float32), "F")
                out[i, ..., c] = np.asarray(plane.resize((w, h), Image.Resampling.BILINEAR))
    return out


def prepare_images(ds: Dataset, color_mode: str | None, image_size: tuple[int, int] | None, full: float) -> None:
    """Apply ``data.color_mode`` and ``data.image_size`` to every split, in place (notes what changed)."""
    if color_mode and ds.x_train.shape[-1] != CHANNELS[color_mode]:  # type: ignore[union-attr]
        ds.notes.append(f"converted images from {ds.x_train.shape[-1]} channel(s) to {color_mode}")  # type: ignore[union-attr]
        for attr, x in _arrays(ds):
            setattr(ds, attr, convert_color(x, color_mode, full))
    if image_size and tuple(ds.x_train.shape[1:3]) != tuple(image_size):  # type: ignore[union-attr]
        ds.notes.append(f"resized images from {ds.x_train.shape[1]}x{ds.x_train.shape[2]} to "  # type: ignore[union-attr]
                        f"{image_size[0]}x{image_size[1]}")
        for attr, x in _arrays(ds):
            setattr(ds, attr, resize_images(x, tuple(image_size)))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------
def normalize(ds: Dataset, how: str, pixel_max: float | None = None) -> None:
    """Normalise features in place with statistics of the training split only.

    Images: "scale" divides by ``pixel_max`` (255 for 8-bit, 16 for digits) to [0, 1]; "standardize"
    uses the per-channel mean and std. Tabular: "scale" is min-max, "standardize" per column. "none"
    only makes float32. Integer sequences and raw text are never touched.
    """
    kind = ds.kind
    if kind in ("sequence", "text"):
        return
    if kind == "image":
        axes: tuple[int, ...] = (0, 1, 2)
    elif kind == "tabular":
        axes = (0,)
    else:
        return
    train = np.asarray(ds.x_train, dtype=np.float32)
    if how == "scale" and kind == "image":
        shift, div = np.float32(0), np.float32(pixel_max or (255.0 if np.asarray(ds.x_train).dtype == np.uint8 else 1.0))
        ds.notes.append(f"scaled pixel values to [0, 1] (divided by {div:g})")
    elif how == "scale":
        lo, hi = train.min(axis=axes), train.max(axis=axes)
        shift, div = lo, np.where(hi > lo, hi - lo, 1).astype(np.float32)
        ds.notes.append("scaled each feature to [0, 1] with the training split's min and max")
    elif how == "standardize":
        shift = train.mean(axis=axes, dtype=np.float64).astype(np.float32)
        std = train.std(axis=axes, dtype=np.float64).astype(np.float32)
        div = np.where(std > 0, std, 1).astype(np.float32)
        per = "channel" if kind == "image" else "feature"
        ds.notes.append(f"standardised each {per} with the training split's mean and standard deviation")
    else:
        shift, div = np.float32(0), np.float32(1)
    ds.preprocessing.update(normalize=how, offset=np.asarray(shift, np.float32).tolist(),
                            divisor=np.asarray(div, np.float32).tolist(), pixel_max=pixel_max)
    for attr, x in _arrays(ds):
        out = np.asarray(x, dtype=np.float32) if attr != "x_train" else train
        if how in ("scale", "standardize"):
            if out is x or not out.flags.writeable:  # never change the caller's array
                out = out.copy()
            np.subtract(out, shift, out=out)  # in place: the same values, no temporaries
            np.divide(out, div, out=out)
        setattr(ds, attr, out.astype(np.float32, copy=False))


# ---------------------------------------------------------------------------------------------------
# Views: named model inputs
# ---------------------------------------------------------------------------------------------------
def _slice(spec: str, width: int, name: str) -> slice:
    try:
        start, stop = (p.strip() for p in spec.split(":"))
        sl = slice(int(start) if start else 0, int(stop) if stop else width)
    except ValueError:
        raise DataError(f"'{spec}' is not a slice", where=f"data.views.{name}",
                        fix="Write 'start:stop' over the flattened features (e.g. '0:10'), or a list of columns.") from None
    if not 0 <= sl.start < sl.stop <= width:
        raise DataError(f"'{spec}' selects nothing of the {width} features", where=f"data.views.{name}",
                        fix=f"Use 0 <= start < stop <= {width}.")
    return sl


def view_indices(views: dict[str, list[str] | str], width: int,
                 feature_columns: list[str] | None) -> dict[str, np.ndarray]:
    """Feature indices for each view: a 'start:stop' slice of the flattened features, or CSV columns."""
    out = {}
    for name, spec in views.items():
        if isinstance(spec, str):
            out[name] = np.arange(width)[_slice(spec, width, name)]
            continue
        if feature_columns is None:
            raise DataError("lists column names, but this dataset has no named columns", where=f"data.views.{name}",
                            fix="Use 'start:stop' over the flattened features (e.g. '0:392').")
        known = list(dict.fromkeys(feature_columns))
        index = []
        for col in spec:
            if col not in known:
                raise DataError(f"names column '{col}', which is not a feature column.{did_you_mean(col, known)}"
                                f" The feature columns are: {', '.join(known)}", where=f"data.views.{name}",
                                fix="Use the CSV's column names (not the target).")
            index += [i for i, c in enumerate(feature_columns) if c == col]
        out[name] = np.asarray(index, np.int64)
    return out


def index_runs(index: np.ndarray) -> list[list[int]]:
    """``[start, stop)`` pairs of the consecutive runs in ``index`` (in its order).

    >>> index_runs(np.array([0, 1, 2, 7, 8, 3]))
    [[0, 3], [7, 9], [3, 4]]
    """
    runs: list[list[int]] = []
    for i in (int(v) for v in index):
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def apply_views(ds: Dataset, views: dict[str, list[str] | str], feature_columns: list[str] | None) -> None:
    """Turn flat features into ``{view name: (N, k) array}`` (in place), for multi-input models."""
    x = ds.x_train
    if isinstance(x, dict) or x.dtype.kind in "OUS":
        raise DataError("views need numeric features (tabular, or images that are flattened)", where="data.views",
                        fix="Remove `data.views` for text datasets.")
    width = int(np.prod(x.shape[1:]))
    index = view_indices(views, width, feature_columns)
    # the raw layout and where each view comes from: exports cut the views from one raw example themselves
    ds.preprocessing["views"] = {"kind": ds.kind, "shape": [int(d) for d in x.shape[1:]],
                                 "runs": {name: index_runs(idx) for name, idx in index.items()}}
    for attr, arr in _arrays(ds):
        flat = arr.reshape(len(arr), -1)
        setattr(ds, attr, {name: flat[:, idx] for name, idx in index.items()})
    ds.notes.append("split the features into the views " + ", ".join(f"{k} ({len(v)})" for k, v in index.items()))

