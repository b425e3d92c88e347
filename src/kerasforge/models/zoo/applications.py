"""Keras' pretrained image networks by name (``keras.applications``), each with the input scaling its
weights were trained on, made of plain layers so ``model.keras`` stays loadable in safe mode.

Inputs arrive scaled to [0, 1] (kerasforge's ``normalize: scale``); :func:`preprocessing` maps them to
what the network expects: ``tf`` mode [-1, 1] (MobileNetV2, ResNet50V2, Xception, InceptionV3), ``caffe``
mode BGR minus the ImageNet means on 0..255 (VGG16/19, ResNet50/101/152: a frozen 1×1 convolution does the
channel swap and the shift), ``raw`` 0..255 (EfficientNet, EfficientNetV2, MobileNetV3, ConvNeXt: their
own rescaling is inside them), ``torch`` mode ImageNet mean/std (DenseNet).

Example:
    >>> base = application("VGG16", (64, 64, 3), weights=None)          # doctest: +SKIP
    >>> scale = preprocessing("VGG16")                                   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from ...errors import ModelError

MODES = {
    "MobileNetV2": "tf", "ResNet50V2": "tf", "ResNet101V2": "tf", "ResNet152V2": "tf", "Xception": "tf",
    "InceptionV3": "tf", "InceptionResNetV2": "tf",
    "VGG16": "caffe", "VGG19": "caffe", "ResNet50": "caffe", "ResNet101": "caffe", "ResNet152": "caffe",
    "MobileNetV3Small": "raw", "MobileNetV3Large": "raw", "ConvNeXtTiny": "raw", "ConvNeXtSmall": "raw",
    **{f"EfficientNetB{i}": "raw" for i in range(8)},
    **{f"EfficientNetV2{s}": "raw" for s in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    "DenseNet121": "torch", "DenseNet169": "torch", "DenseNet201": "torch",
}
MIN_SIDE = {"Xception": 71, "InceptionV3": 75, "InceptionResNetV2": 75}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def check_name(name: str, where: str = "model.kwargs.application") -> str:
    """``name`` if it is a network of :data:`MODES`, else a :class:`ModelError` listing them."""
    if name not in MODES:
        from ...errors import did_you_mean

        raise ModelError(f"unknown pretrained network {name!r}.{did_you_mean(name, MODES)}", where=where,
                         fix=f"Use one of: {', '.join(MODES)}.")
    return name


def application(name: str, shape: Sequence[int], *, weights: str | None, alpha: float = 1.0) -> keras.Model:
    """``keras.applications.<name>`` without its top, for ``shape`` images (``weights``: None, "imagenet"
    or a file)."""
    constructor = getattr(keras.applications, check_name(name))
    kwargs = {"include_top": False, "weights": weights, "input_shape": tuple(int(d) for d in shape)}
    if "alpha" in inspect.signature(constructor).parameters:
        kwargs["alpha"] = alpha
    return constructor(**kwargs)


def preprocessing(name: str) -> layers.Layer:
    """The layer that maps [0, 1] images to the input scale of ``name``'s weights."""
    mode = MODES[check_name(name)]
    if mode == "tf":
        return layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")
    if mode == "raw":
        return layers.Rescaling(255.0, name="to_0_255")
    if mode == "torch":
        return layers.Normalization(mean=list(TORCH_MEAN), variance=[s * s for s in TORCH_STD], name="to_imagenet_stats")
    kernel = np.zeros((1, 1, 3, 3), dtype="float32")  # caffe: out[c] = 255 * in[2 - c] - mean_bgr[c]
    for out in range(3):
        kernel[0, 0, 2 - out, out] = 255.0
    conv = layers.Conv2D(3, 1, name="to_caffe_bgr", trainable=False)
    conv.build((None, None, None, 3))
    conv.set_weights([kernel, -np.asarray(CAFFE_MEAN_BGR, dtype="float32")])
    return conv
