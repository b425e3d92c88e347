"""A CIFAR-10 "speedrun" network: few layers, wide, trained hard for about ten epochs.

The ideas come from the fast-training line of work on CIFAR-10 (Keller Jordan's airbench: 94% on the
official CIFAR-10 in a few seconds on one A100); this is a Keras 3 rendition written for kerasforge:

- **patch whitening** (:class:`PatchWhitening`): the first convolution is fixed, computed from the
  training images: each 2×2×3 patch is projected on the eigenvectors of the patches' covariance and scaled
  by ``1/sqrt(eigenvalue + eps)``, so its 12 outputs are decorrelated with unit variance; the kernel is
  ``[V, -V]`` (24 channels) so that the GELU after it loses nothing. It is not trained.
- three blocks ``Conv3×3 -> MaxPool2 -> BatchNorm -> GELU -> Conv3×3 -> BatchNorm -> GELU`` of widths
  64/256/256, with BatchNormalization that follows the data fast (small ``momentum``) and has no scale
  (the next layer is a convolution or the head; a scale would only duplicate the kernel's norm);
- a global max pool and a bias-free ``Dense`` whose logits are scaled down (×1/9), which keeps the
  softmax soft early in training;
- random flips and 2-pixel translations inside the model (active in ``fit`` only), and **test-time flip
  averaging**: at inference the model averages the logits of the image and of its mirror image, so
  ``evaluate``, export and serving all get it (:class:`SpeedrunNet`).

Why a subclassed model: kerasforge adapts the model's *leading* layers that have ``adapt`` (see
``kerasforge.pipeline.adapt_preprocessing``), while the whitening must run *after* the augmentation and
inside the flip averaging. A subclassed model lists :class:`PatchWhitening` first and still calls it
where it belongs.

Example:
    >>> model = speedrun_cnn((32, 32, 3), 10, widths=(16, 32, 32))          # doctest: +SKIP
    >>> model.whiten.adapt(x_train)                                          # doctest: +SKIP
    >>> model.predict(x_test).shape                                          # doctest: +SKIP
    (10000, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from .resnet import augmentation

# The smallest image side the three 2x2 poolings (after the 2x2 whitening) leave at least one pixel of.
MIN_SIDE = 16


@keras.saving.register_keras_serializable(package="kerasforge")
class PatchWhitening(layers.Layer):
    """A fixed ``patch_size``×``patch_size`` convolution that whitens image patches (not trained).

    ``adapt(images)`` estimates the mean and covariance of all patches of (a sample of) the images and
    sets the kernel to ``[W, -W]`` with ``W = V / sqrt(eigenvalues + eps)`` (``V``: the eigenvectors,
    largest eigenvalue first) and the bias to ``-mean @ [W, -W]``: the first ``k = patch_size² × channels``
    output channels then have zero mean and (for eigenvalues well above ``eps``) identity covariance; the
    last ``k`` are their negatives. The output is ``patch_size - 1`` pixels smaller ("valid" padding).
    Before ``adapt`` the kernel copies the patch (``W = I``).

    >>> layer = PatchWhitening()
    >>> images = np.random.default_rng(0).normal(size=(64, 8, 8, 3)).astype("float32")
    >>> layer.adapt(images)
    >>> tuple(layer(images).shape)
    (64, 7, 7, 24)
    """

    def __init__(self, patch_size: int = 2, eps: float = 5e-4, sample: int = 5000, seed: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        self.patch_size = int(patch_size)
        self.eps = float(eps)
        self.sample = int(sample)
        self.seed = int(seed)

    def build(self, input_shape: Sequence[int | None]) -> None:
        channels = int(input_shape[-1])
        size = self.patch_size * self.patch_size * channels
        self.kernel = self.add_weight(name="kernel", shape=(self.patch_size, self.patch_size, channels, 2 * size),
                                      initializer=keras.initializers.Constant(self._kernel(np.eye(size))),
                                      trainable=False)
        self.bias = self.add_weight(name="bias", shape=(2 * size,), initializer="zeros", trainable=False)

    def _kernel(self, w: np.ndarray) -> np.ndarray:
        """``[W, -W]`` laid out as a Keras kernel (patch values in (row, column, channel) order)."""
        size = w.shape[0]
        channels = size // (self.patch_size * self.patch_size)
        both = np.concatenate([w, -w], axis=1)
        return both.reshape(self.patch_size, self.patch_size, channels, 2 * size).astype("float32")

    def patches(self, images: Any) -> np.ndarray:
        """All ``patch_size``×``patch_size`` patches of ``images`` (N, H, W, C) as rows, in the kernel's order.

        >>> PatchWhitening().patches(np.zeros((2, 4, 4, 3))).shape
        (18, 12)
        """
        x = np.asarray(images, dtype="float32")
        p = self.patch_size
        h, w = x.shape[1] - p + 1, x.shape[2] - p + 1
        parts = [x[:, i:i + h, j:j + w, :] for i in range(p) for j in range(p)]
        return np.concatenate(parts, axis=-1).reshape(-1, p * p * x.shape[-1])

    def adapt(self, data: Any) -> None:
        """Set the kernel and bias from (a sample of ``sample``) images ``data``, shaped (N, H, W, C)."""
        x = ops.convert_to_numpy(data) if not isinstance(data, np.ndarray) else data
        if x.ndim != 4:
            raise ValueError(f"PatchWhitening adapts to images shaped (N, H, W, C), got {x.shape}")
        if len(x) > self.sample:
            x = x[np.sort(np.random.default_rng(self.seed).choice(len(x), self.sample, replace=False))]
        if not self.built:
            self.build(x.shape)
        size = self.patch_size * self.patch_size * x.shape[-1]
        total, outer, count = np.zeros(size), np.zeros((size, size)), 0
        for start in range(0, len(x), 256):  # chunks keep the patch matrix small (256 images at a time)
            rows = self.patches(x[start:start + 256]).astype("float64")
            total += rows.sum(axis=0)
            outer += rows.T @ rows
            count += len(rows)
        mean = total / count
        covariance = outer / count - np.outer(mean, mean)
        eigenvalues, vectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        w = vectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0.0) + self.eps)
        self.kernel.assign(self._kernel(w))
        self.bias.assign((-mean @ np.concatenate([w, -w], axis=1)).astype("float32"))

    def call(self, inputs: Any) -> Any:
        return ops.conv(inputs, self.kernel, strides=1, padding="valid") + self.bias

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        def shrink(side):
            return None if side is None else side - self.patch_size + 1
        out = 2 * self.patch_size * self.patch_size * int(input_shape[-1])
        return (input_shape[0], shrink(input_shape[1]), shrink(input_shape[2]), out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "patch_size": self.patch_size, "eps": self.eps, "sample": self.sample,
                "seed": self.seed}


def conv_block(width: int, bn_momentum: float = 0.6, name: str = "block") -> keras.Sequential:
    """``Conv3×3 -> MaxPool2 -> BatchNorm -> GELU -> Conv3×3 -> BatchNorm -> GELU`` (no conv biases).

    >>> [type(layer).__name__ for layer in conv_block(8).layers][:3]   # doctest: +SKIP
    ['Conv2D', 'MaxPooling2D', 'BatchNormalization']
    """
    def norm(suffix: str) -> layers.Layer:
        return layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5, scale=False, name=f"{name}_bn{suffix}")

    return keras.Sequential([
        layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv1"),
        layers.MaxPooling2D(2, name=f"{name}_pool"),
        norm("1"), layers.Activation("gelu", name=f"{name}_gelu1"),
        layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv2"),
        norm("2"), layers.Activation("gelu", name=f"{name}_gelu2"),
    ], name=name)


@keras.saving.register_keras_serializable(package="kerasforge")
class SpeedrunNet(keras.Model):
    """Augmentation -> :class:`PatchWhitening` -> GELU -> conv blocks -> max pool -> scaled linear head -> softmax.

    In ``fit`` (``training=True``) the images are flipped and shifted at random first; at inference the
    model averages the logits of each image and of its horizontal mirror when ``tta_flip`` is on. The
    output is softmax probabilities. Build it with :func:`speedrun_cnn`.
    """

    def __init__(self, input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10,
                 widths: Sequence[int] = (64, 256, 256), *, flip: bool = True, shift: int = 2,
                 tta_flip: bool = True, logit_scale: float = 1 / 9, bn_momentum: float = 0.6,
                 whiten_eps: float = 5e-4, whiten_sample: int = 5000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 3 or min(shape[:2]) < MIN_SIDE:
            raise ValueError(f"SpeedrunNet takes images (height, width, channels) of at least {MIN_SIDE}×{MIN_SIDE} "
                             f"pixels, got input_shape {list(input_shape)}")
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be a list of block widths >= 1, got {list(widths)}")
        self.image_shape, self.num_classes, self.widths = shape, int(num_classes), tuple(int(w) for w in widths)
        self.flip, self.shift, self.tta_flip = bool(flip), int(shift), bool(tta_flip)
        self.logit_scale, self.bn_momentum = float(logit_scale), float(bn_momentum)
        self.whiten_eps, self.whiten_sample = float(whiten_eps), int(whiten_sample)
        # First attribute = first entry of `self.layers`: kerasforge's pipeline adapts it to the training images.
        self.whiten = PatchWhitening(eps=self.whiten_eps, sample=self.whiten_sample, name="patch_whitening")
        self.augment = augmentation(shape, flip=self.flip, shift=self.shift)
        self.trunk = keras.Sequential(
            [layers.Activation("gelu", name="whitened_gelu")]
            + [conv_block(w, self.bn_momentum, name=f"block{i + 1}") for i, w in enumerate(self.widths)]
            + [layers.GlobalMaxPooling2D(name="max_pool"),
               layers.Dense(self.num_classes, use_bias=False, name="logits")],
            name="trunk")
        self.probabilities = layers.Softmax(name="classes")  # last: computed in float32 under mixed precision

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = (None, *tuple(input_shape)[1:])
        for layer in (self.whiten, *self.augment):
            if not layer.built:
                layer.build(shape)
        self.trunk.build(self.whiten.compute_output_shape(shape))
        self.probabilities.build((None, self.num_classes))
        self.built = True

    def logits(self, images: Any, training: bool = False) -> Any:
        """Scaled logits of already-augmented ``images`` (no flip averaging)."""
        return self.trunk(self.whiten(images), training=training) * self.logit_scale

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            x = inputs
            for layer in self.augment:
                x = layer(x, training=True)
            return self.probabilities(self.logits(x, training=True))
        logits = self.logits(inputs)
        if self.tta_flip:
            logits = (logits + self.logits(ops.flip(inputs, axis=2))) * 0.5
        return self.probabilities(logits)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, "input_shape": list(self.image_shape),
                "num_classes": self.num_classes, "widths": list(self.widths), "flip": self.flip,
                "shift": self.shift, "tta_flip": self.tta_flip, "logit_scale": self.logit_scale,
                "bn_momentum": self.bn_momentum, "whiten_eps": self.whiten_eps,
                "whiten_sample": self.whiten_sample}


def speedrun_cnn(input_shape: Sequence[int], num_classes: int, *, widths: Sequence[int] = (64, 256, 256),
                 flip: bool = True, shift: int = 2, tta_flip: bool = True, logit_scale: float = 1 / 9,
                 bn_momentum: float = 0.6, whiten_eps: float = 5e-4, whiten_sample: int = 5000,
                 name: str = "speedrun") -> SpeedrunNet:
    """The speedrun network for ``input_shape`` images (at least 16×16) and ``num_classes`` classes, built.

    ``widths`` are the three blocks' filters (64/256/256: about 2M parameters); ``flip``/``shift`` the
    training augmentation (``flip=False, shift=0`` for none); ``tta_flip`` the flip averaging at inference;
    ``bn_momentum`` Keras' BatchNormalization momentum (the weight of the old moving statistics);
    ``whiten_eps``/``whiten_sample`` the whitening's eigenvalue floor and how many training images it
    looks at. The whitening is adapted by kerasforge's pipeline, or by ``model.whiten.adapt(x_train)``.

    >>> model = speedrun_cnn((32, 32, 3), 10, widths=(8, 16, 16))
    >>> model.count_params() < 20_000, tuple(model(np.zeros((2, 32, 32, 3))).shape)
    (True, (2, 10))
    """
    model = SpeedrunNet(input_shape, num_classes, widths, flip=flip, shift=shift, tta_flip=tta_flip,
                        logit_scale=logit_scale, bn_momentum=bn_momentum, whiten_eps=whiten_eps,
                        whiten_sample=whiten_sample, name=name)
    model.build((None, *model.image_shape))
    return model
