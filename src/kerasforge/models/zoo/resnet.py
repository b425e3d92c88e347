"""A CIFAR-style residual network (He et al. 2016) built with the functional API.

The network is a 3×3 stem, then stages of basic residual blocks (two 3×3 convolutions with
BatchNormalization and a shortcut); each stage after the first halves the resolution and doubles the
width. Global average pooling and a softmax head finish it. Optional augmentation layers sit in front
(random horizontal flip and a random shift that fills with zeros, like padding by ``shift`` pixels and
cropping back), so they are active in ``fit`` and idle in ``predict``.

Example:
    >>> model = resnet((32, 32, 3), num_classes=10, stages=(1, 1), width=8)   # doctest: +SKIP
    >>> model.output_shape                                                     # doctest: +SKIP
    (None, 10)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def augmentation(input_shape: Sequence[int], flip: bool = True, shift: int = 4) -> list[keras.layers.Layer]:
    """Training-time augmentation layers: horizontal flip and a per-image shift of up to ``shift`` pixels.

    >>> [type(layer).__name__ for layer in augmentation((32, 32, 3))]   # doctest: +SKIP
    ['RandomFlip', 'RandomTranslation']
    """
    steps: list[keras.layers.Layer] = []
    if flip:
        steps.append(layers.RandomFlip("horizontal"))
    if shift:
        # Per-image shifts with zero fill = "pad by `shift`, random crop"; keras' RandomCrop would draw one
        # offset for a whole batch, which gives far less variety.
        height, width = int(input_shape[0]), int(input_shape[1])
        steps.append(layers.RandomTranslation(shift / height, shift / width, fill_mode="constant",
                                              interpolation="nearest"))
    return steps


def residual_block(x, filters: int, stride: int, weight_decay: float):
    """One basic block: conv-BN-ReLU-conv-BN plus the shortcut (a 1×1 projection when shapes change)."""
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    conv = {"kernel_size": 3, "padding": "same", "use_bias": False, "kernel_initializer": "he_normal",
            "kernel_regularizer": reg}
    shortcut = x
    y = layers.Conv2D(filters, strides=stride, **conv)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, **conv)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, kernel_initializer="he_normal",
                                 kernel_regularizer=reg)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def resnet(input_shape: Sequence[int], num_classes: int, *, stages: Sequence[int] = (2, 2, 2, 2),
           width: int = 64, flip: bool = True, shift: int = 4, weight_decay: float = 0.0,
           dropout: float = 0.0, name: str = "resnet") -> keras.Model:
    """A residual network for small images: ``stages[i]`` blocks of ``width * 2**i`` filters each.

    ``stages=(2, 2, 2, 2), width=64`` is ResNet-18 laid out for 32×32 inputs (11M parameters);
    ``stages=(3, 3, 3), width=16`` is the original ResNet-20 (0.27M). ``flip``/``shift`` add
    augmentation (``shift=0`` and ``flip=False`` for none); ``weight_decay`` adds L2 on the kernels.

    >>> resnet((32, 32, 3), 10, stages=(1, 1), width=8).count_params() < 20_000   # doctest: +SKIP
    True
    """
    if not stages or any(int(n) < 1 for n in stages):
        raise ValueError(f"stages must be a list of block counts >= 1, got {list(stages)}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in augmentation(input_shape, flip=flip, shift=shift):
        x = layer(x)
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=keras.regularizers.L2(weight_decay) if weight_decay else None)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    for stage, blocks in enumerate(stages):
        for block in range(int(blocks)):
            stride = 2 if stage > 0 and block == 0 else 1
            x = residual_block(x, width * 2**stage, stride, weight_decay)
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)
