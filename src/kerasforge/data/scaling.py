"""Compact images until the model: pixels stay ``uint8`` on the host, the model scales them itself.

:func:`image_statistics` reads the normalisation's offset and divisor from the training pixels in chunks
(no float32 copy of the dataset); :func:`scale_inside` puts them into the model as its first layer, a
``Rescaling`` named :data:`SCALING_LAYER`, so training, evaluation, export and serving all feed RAW pixels.
Where a model cannot take the layer (several inputs), :func:`scale_on_host` expands to float32 as before,
and a streamed source scales each batch with :func:`scale_batch`.

Example:
    >>> import numpy as np
    >>> offset, divisor = image_statistics(np.full((4, 2, 2, 3), 51, np.uint8), "scale", 255)
    >>> offset, divisor
    ([0.0], [255.0])
    >>> scale_batch(np.full((1, 1, 1, 1), 51, np.uint8), {"offset": offset, "divisor": divisor}).item()
    0.2
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import Dataset

SCALING_LAYER = "kforge_input_scaling"
_CHUNK = 4096  # images per chunk when reading statistics


def image_statistics(x: np.ndarray, how: str, pixel_max: float | None) -> tuple[list[float], list[float]]:
    """``(offset, divisor)`` per channel (or one value) of ``normalize: how`` over training images ``x``,
    read in chunks of :data:`_CHUNK` images so a memory-mapped split is never copied whole.

    >>> image_statistics(np.arange(8, dtype=np.uint8).reshape(2, 2, 2, 1), "standardize", 255)[0]
    [3.5]
    """
    if how == "scale":
        return [0.0], [float(pixel_max or (255.0 if x.dtype == np.uint8 else 1.0))]
    if how != "standardize":
        return [0.0], [1.0]
    from .stream import RowReader

    channels, reader = x.shape[-1], RowReader(x)
    total, sums, squares = 0, np.zeros(channels), np.zeros(channels)
    for start in range(0, len(x), _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, len(x)))
        chunk = np.asarray(reader.read(rows), np.float64).reshape(-1, channels)
        total += len(chunk)
        sums += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    mean = sums / max(total, 1)
    std = np.sqrt(np.maximum(squares / max(total, 1) - mean ** 2, 0.0))
    divisor = np.where(std > 0, std, 1.0)
    return [float(np.float32(v)) for v in mean], [float(np.float32(v)) for v in divisor]


def scale_batch(x: np.ndarray, pre: dict[str, Any]) -> np.ndarray:
    """One batch of raw pixels to the training scale, ``(x - offset) / divisor`` in float32."""
    offset = np.asarray(pre.get("offset", [0.0]), np.float32)
    divisor = np.asarray(pre.get("divisor", [1.0]), np.float32)
    return (np.asarray(x, np.float32) - offset) / divisor


def _broadcast(values: list[float], natural: tuple, model_shape: tuple) -> Any:
    """Per-channel values shaped for the model's input (a float when all are equal)."""
    arr = np.asarray(values, np.float32)
    if arr.size == 1 or np.allclose(arr, arr.flat[0]):
        return float(arr.flat[0])
    full = np.broadcast_to(arr, natural)
    if tuple(natural) != tuple(model_shape):
        full = full.reshape(model_shape)
    return full.tolist()


def can_scale_inside(model: Any) -> bool:
    """Whether ``model`` takes the scaling layer: a ``keras.Sequential`` with one input (the recipe's
    ``layers:`` models, the common case). Functional and Python models keep their own first layer."""
    import keras

    return isinstance(model, keras.Sequential) and len(getattr(model, "inputs", []) or []) == 1


def scale_inside(model: Any, ds: Dataset, natural_shape: tuple) -> Any:
    """``model`` with a first layer that maps RAW pixels to the training scale; records it in
    ``ds.preprocessing`` (``offset`` 0 and ``divisor`` 1 as seen from outside, the real values under
    ``in_model``) so predictions and exports keep feeding raw pixels.

    >>> import keras
    >>> ds = Dataset("t", np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), np.zeros((1, 4, 4, 1), np.uint8),
    ...              np.array([0]), ["a", "b"], preprocessing={"pending": {"offset": [0.0], "divisor": [255.0]}})
    >>> m = scale_inside(keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()]), ds, (4, 4, 1))
    >>> m.layers[0].name, ds.preprocessing["divisor"]
    ('kforge_input_scaling', [1.0])
    """
    import keras

    pending = ds.preprocessing.pop("pending")
    shape = tuple(model.inputs[0].shape[1:])
    offset, divisor = np.asarray(pending["offset"], np.float64), np.asarray(pending["divisor"], np.float64)
    scale = _broadcast((1.0 / divisor).tolist(), natural_shape, shape)
    shift = _broadcast((-offset / divisor).tolist(), natural_shape, shape)
    layer = keras.layers.Rescaling(scale=scale, offset=shift, name=SCALING_LAYER)
    inputs = keras.Input(shape=shape, name="input", dtype=model.inputs[0].dtype)
    scaled = keras.Sequential([inputs, layer, *model.layers], name=model.name)
    channels = len(pending["offset"])
    ds.preprocessing.update(normalize=pending["normalize"], offset=[0.0] * channels, divisor=[1.0] * channels,
                            pixel_max=pending.get("pixel_max"), in_model=pending)
    kept = "kept pixels as uint8" if ds.kind == "image" else "kept the features raw"
    how = f"(x - {pending['offset']}) / {pending['divisor']}" if channels <= 8 else \
        f"per feature, {channels} offsets and divisors in data.json"
    ds.notes.append(f"{kept}; the model's first layer scales them ({pending['normalize']}: {how})")
    return scaled


def scale_on_host(ds: Dataset) -> None:
    """Apply the pending normalisation on the host (float32 arrays), as before compact images."""
    from .preprocess import normalize

    pending = ds.preprocessing.pop("pending")
    normalize(ds, pending["normalize"], pending.get("pixel_max"))


def match_model(ds: Dataset, model: Any) -> None:
    """Prepare compactly loaded images for an already trained ``model``: left raw when its first layer is
    :data:`SCALING_LAYER`, else normalised on the host as that model was trained."""
    if "pending" not in ds.preprocessing:
        return
    if any(layer.name == SCALING_LAYER for layer in getattr(model, "layers", [])[:1]):
        ds.preprocessing.pop("pending")
    else:
        scale_on_host(ds)
