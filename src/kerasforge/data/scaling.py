"""Compact images until the model: pixels stay ``uint8`` on the host, the model scales them itself.

:func:`image_statistics` reads the normalisation's offset and divisor from the training pixels in chunks
(no float32 copy of the dataset); :func:`scale_inside` puts them into the model as its first layer, a
``Rescaling`` named :data:`SCALING_LAYER`, so training, evaluation, export and serving all feed RAW pixels.
Sequential and plain functional models take it (:func:`insert_scaling`); any other model reads the
pixels as ``uint8`` and scales each batch on the host as it is read (:func:`scale_batch`, through
:mod:`kerasforge.data.host_scaling`). :func:`scale_on_host` (the whole dataset in float32) is left for
``data.stream: false`` with such a model, and for ``kforge report`` of a run trained that way.

Example:
    >>> import numpy as np
    >>> offset, divisor = image_statistics(np.full((4, 2, 2, 3), 51, np.uint8), "scale", 255)
    >>> offset, divisor
    ([0.0], [255.0])
    >>> round(scale_batch(np.full((1, 1, 1, 1), 51, np.uint8), {"offset": offset, "divisor": divisor}).item(), 6)
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
    """Whether ``model`` takes the scaling layer as its first layer: a ``keras.Sequential`` (the recipe's
    ``layers:`` models) or a plain functional model (``graph:`` recipes, Python builders returning
    ``keras.Model(inputs, outputs)``) with one input. Subclassed models (their own ``call`` or
    ``train_step``) and models with several inputs are scaled per batch on the host instead
    (:mod:`kerasforge.data.host_scaling`).

    >>> import keras
    >>> can_scale_inside(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    True
    """
    import keras
    from keras.src.models.functional import Functional

    if len(getattr(model, "inputs", None) or []) != 1:
        return False
    # type(...) is: a subclass of Functional may override train_step/call, which a rebuild would drop
    return isinstance(model, keras.Sequential) or type(model) is Functional


def why_not_inside(model: Any) -> str:
    """Why ``model`` cannot take the scaling layer, in words (for the console and run.json)."""
    inputs = len(getattr(model, "inputs", None) or [])
    if inputs > 1:
        return f"the model has {inputs} inputs"
    if not inputs:
        return f"{type(model).__name__} is a subclassed model (its own call)"
    return f"{type(model).__name__} subclasses the functional Model (a rebuild could drop its own methods)"


def scaling_layer(offset: list[float], divisor: list[float], natural_shape: tuple, model_shape: tuple) -> Any:
    """The ``Rescaling`` layer :data:`SCALING_LAYER` mapping raw values to ``(x - offset) / divisor``."""
    import keras

    offset_arr, divisor_arr = np.asarray(offset, np.float64), np.asarray(divisor, np.float64)
    scale = _broadcast((1.0 / divisor_arr).tolist(), natural_shape, model_shape)
    shift = _broadcast((-offset_arr / divisor_arr).tolist(), natural_shape, model_shape)
    return keras.layers.Rescaling(scale=scale, offset=shift, name=SCALING_LAYER)


def insert_scaling(model: Any, offset: list[float], divisor: list[float], natural_shape: tuple) -> Any:
    """``model`` with :func:`scaling_layer` right after its input, reusing its layer objects (weights,
    pretrained bases and ``trainable`` flags are kept). A Sequential model stays Sequential; a functional
    model's graph is rebuilt flat (``keras.models.clone_model`` with the same layers, the new input keeping
    the original's name and dtype), so ``get_layer`` and the report still see the user's layers.

    >>> import keras
    >>> inp = keras.Input((2,), name="features")
    >>> m = insert_scaling(keras.Model(inp, keras.layers.Dense(1, name="out")(inp)), [1.0], [2.0], (2,))
    >>> [layer.name for layer in m.layers]
    ['features', 'kforge_input_scaling', 'out']
    """
    import keras

    original = model.inputs[0]
    shape = tuple(original.shape[1:])
    layer = scaling_layer(offset, divisor, natural_shape, shape)
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(shape=shape, name="input", dtype=original.dtype)
        return keras.Sequential([inputs, layer, *model.layers], name=model.name)
    inputs = keras.Input(batch_shape=tuple(original.shape), dtype=original.dtype, name=original.name)
    scaled = layer(inputs)

    def call(operation: Any, *args: Any, **kwargs: Any) -> Any:  # the input's consumers take the scaled input
        args, kwargs = keras.tree.map_structure(lambda t: scaled if t is inputs else t, (args, kwargs))
        return operation(*args, **kwargs)

    return keras.models.clone_model(model, input_tensors=keras.tree.map_structure(lambda _: inputs, model.input),
                                    clone_function=lambda same: same, call_function=call)


def scale_inside(model: Any, ds: Dataset, natural_shape: tuple) -> Any:
    """``model`` with a first layer that maps RAW pixels to the training scale (:func:`insert_scaling`);
    records it in ``ds.preprocessing`` (``offset`` 0 and ``divisor`` 1 as seen from outside, the real
    values under ``in_model``) so predictions and exports keep feeding raw pixels.

    >>> import keras
    >>> ds = Dataset("t", np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), np.zeros((1, 4, 4, 1), np.uint8),
    ...              np.array([0]), ["a", "b"], preprocessing={"pending": {"offset": [0.0], "divisor": [255.0]}})
    >>> m = scale_inside(keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()]), ds, (4, 4, 1))
    >>> m.layers[0].name, ds.preprocessing["divisor"]
    ('kforge_input_scaling', [1.0])
    """
    pending = ds.preprocessing.pop("pending")
    scaled = insert_scaling(model, pending["offset"], pending["divisor"], natural_shape)
    channels = len(pending["offset"])
    ds.preprocessing.update(normalize=pending.get("normalize"), offset=[0.0] * channels, divisor=[1.0] * channels,
                            pixel_max=pending.get("pixel_max"), in_model=pending)
    kept = "kept pixels as uint8" if ds.kind == "image" else "kept the features raw"
    how = f"(x - {pending['offset']}) / {pending['divisor']}" if channels <= 8 else \
        f"per feature, {channels} offsets and divisors in data.json"
    ds.notes.append(f"{kept}; the model's first layer scales them ({pending.get('normalize')}: {how})")
    return scaled


def rescale_rebuilt(model: Any, data_info: dict[str, Any]) -> Any:
    """A model rebuilt from its recipe (to load ``model.weights.h5`` into) given back the scaling layer
    its run trained with (``data.json``'s ``preprocessing.in_model``); unchanged when there was none.

    >>> rescale_rebuilt("any model", {"preprocessing": {"offset": 0.0}})
    'any model'
    """
    inside = (data_info.get("preprocessing") or {}).get("in_model")
    if not inside or not can_scale_inside(model):
        return model
    natural = tuple(data_info.get("input_shape") or model.inputs[0].shape[1:])
    return insert_scaling(model, inside["offset"], inside["divisor"], natural)


def first_layer(model: Any) -> Any:
    """The first layer of ``model`` that is not its ``InputLayer`` (``None`` when it has none)."""
    return next((layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"), None)


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
    if getattr(first_layer(model), "name", None) == SCALING_LAYER:
        ds.preprocessing.pop("pending")
    else:
        scale_on_host(ds)
