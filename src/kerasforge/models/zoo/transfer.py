"""Transfer learning: a pretrained convolutional base, a new head, then fine-tuning of its last layers.

No pretrained weights can be downloaded on an offline machine, so the base comes from one of:

* ``weights: path/to/mobilenet_v2_..._no_top.h5`` — Keras' ImageNet weights for MobileNetV2, a local file
  (a relative path is also looked for under ``$KFORGE_DATA_DIR``);
* ``backbone: runs/<run>`` — the ``model.keras`` of an earlier kerasforge run (or a ``.keras`` file): its
  largest convolutional base is cut out (a nested model such as a MobileNetV2, or else the layers up to
  the last one whose output is still an image-shaped feature map);
* ``weights: random`` — MobileNetV2 with random weights, for tests only (nothing is transferred).

Which one was used is printed, and stored in the base's name (``base_imagenet``, ``base_backbone``,
``base_random``). Anything else is a :class:`~kerasforge.errors.ModelError` saying what to give.

Two phases: first the base is frozen and only the head learns; then :class:`FineTune` (a callback, put
in ``train.callbacks``) unfreezes the base's last ``unfreeze`` layers at epoch ``at_epoch`` and swaps in a
fresh optimizer of the same kind with a small learning rate (1e-5). This works on Keras 3 because the
fit loop calls ``model.train_function`` anew at every step: the callback rebuilds it after changing
which weights are trainable, and the new optimizer is built for exactly those weights. BatchNormalization
layers of the base always run in inference mode (the base is called with ``training=False``) and stay
frozen, so a small dataset cannot wreck their statistics.

Example:
    >>> model = mobilenetv2_transfer((96, 96, 3), 2, weights="random")          # doctest: +SKIP
    >>> FineTune(at_epoch=5, unfreeze=30, learning_rate=1e-5)                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from ...console import say
from ...errors import ModelError

BASE_PREFIX = "base_"


def mobilenetv2_transfer(input_shape: Sequence[int], num_classes: int, *, weights: str | None = None,
                         backbone: str | None = None, alpha: float = 1.0, dropout: float = 0.2,
                         augment: bool = True, name: str = "transfer") -> keras.Model:
    """Frozen base (MobileNetV2 or a backbone of an earlier run) → GlobalAveragePooling → Dropout → Dense.

    Inputs are images scaled to [0, 1] (kerasforge's default ``normalize: scale``); they are mapped to
    [-1, 1], the range MobileNetV2 was trained on. ``augment`` adds a random flip and a small rotation.

    >>> mobilenetv2_transfer((96, 96, 3), 2).count_params()   # doctest: +SKIP
    Traceback (most recent call last):
    kerasforge.errors.ModelError: model.kwargs: no pretrained base was given...
    """
    shape = tuple(int(d) for d in input_shape)
    base, source = _base(shape, weights=weights, backbone=backbone, alpha=alpha)
    base.trainable = False
    say(f"  transfer: {source}", style="cyan")

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if augment:
        x = layers.RandomFlip("horizontal")(x)
        x = layers.RandomRotation(0.05)(x)
    if base.name == BASE_PREFIX + "backbone":
        x = _fit_to(base, x)
    else:
        x = layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    x = base(x, training=False)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)


def _base(shape: tuple[int, ...], *, weights: str | None, backbone: str | None,
          alpha: float) -> tuple[keras.Model, str]:
    if weights and backbone:
        raise ModelError("both `weights` and `backbone` are given", where="model.kwargs",
                         fix="Keep one: `weights: <ImageNet .h5 file>` or `backbone: runs/<run>`.")
    if backbone:
        base = convolutional_base(backbone)
        base.name = BASE_PREFIX + "backbone"  # type: ignore[misc]
        return base, f"convolutional base of {backbone} ({len(base.layers)} layers, input {base.input_shape})"
    if weights == "random":
        base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=shape, alpha=alpha)
        base.name = BASE_PREFIX + "random"  # type: ignore[misc]
        return base, "MobileNetV2 with RANDOM weights (nothing pretrained: for tests only)"
    if weights:
        path = _weights_file(weights)
        try:
            base = keras.applications.MobileNetV2(weights=str(path), include_top=False, input_shape=shape,
                                                  alpha=alpha)
        except (ValueError, OSError) as exc:
            raise ModelError(f"the weights file {path} does not fit MobileNetV2(alpha={alpha}, no top): "
                             f"{str(exc).splitlines()[0]}", where="model.kwargs.weights",
                             fix="Use Keras' file mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<alpha>_"
                                 "<size>_no_top.h5 matching `alpha`.") from None
        base.name = BASE_PREFIX + "imagenet"  # type: ignore[misc]
        return base, f"MobileNetV2 with ImageNet weights from {path}"
    raise ModelError(
        "no pretrained base was given, and none can be downloaded offline", where="model.kwargs",
        fix="Set `weights:` to a local MobileNetV2 ImageNet weights file (.h5, no top), or `backbone:` to "
            "a kerasforge run folder whose model.keras has a convolutional base (e.g. a cifar10_resnet "
            "run); `weights: random` trains from scratch (tests only).")


def _weights_file(weights: str) -> Path:
    from ...data.locate import resolve_data_path

    path = resolve_data_path(weights)
    if not path.is_file():
        raise ModelError(f"the weights file {weights!r} does not exist (nor under $KFORGE_DATA_DIR)",
                         where="model.kwargs.weights",
                         fix="Give the path of MobileNetV2's ImageNet weights (.h5, no top).")
    return path


def convolutional_base(source: str | Path) -> keras.Model:
    """The largest convolutional base inside the model of a run folder (or a ``.keras``/``.h5`` file).

    A nested model holding convolutions (e.g. a MobileNetV2 inside a transfer model) is taken whole —
    the one with the most parameters; otherwise the model is cut after its last layer whose output is
    still a feature map (rank 4), before pooling, flattening and the dense head.

    >>> base = convolutional_base("runs/cifar10_resnet-20261123-101500")   # doctest: +SKIP
    """
    from ...saving import load_model_file

    path = Path(source)
    file = path / "model.keras" if path.is_dir() else path
    if not file.is_file():
        raise ModelError(f"no saved model at {file}", where="model.kwargs.backbone",
                         fix="Point `backbone` at a finished kerasforge run folder (it holds model.keras) "
                             "or at a .keras file.")
    try:
        model = load_model_file(file)
    except Exception as exc:  # a corrupt or foreign file: say which, keep the cause
        raise ModelError(f"the model in {file} could not be loaded: {exc}", where="model.kwargs.backbone",
                         fix="Use the model.keras of a finished kerasforge run.") from exc
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and _has_conv(layer)]
    if nested:
        return max(nested, key=lambda m: m.count_params())
    if not any(_has_conv(layer) for layer in model.layers):
        raise ModelError(f"the model in {file} has no convolutional layers to transfer",
                         where="model.kwargs.backbone",
                         fix="Use a run of a convolutional model (e.g. mnist_cnn, cifar10_resnet).")
    last = [layer for layer in model.layers if len(layer.output.shape) == 4][-1]
    # Augmentation layers at the front are kept: they are idle outside training and the base is always
    # called with training=False.
    return keras.Model(model.inputs, last.output, name="backbone")


def _has_conv(layer) -> bool:
    if isinstance(layer, layers.Conv2D | layers.DepthwiseConv2D | layers.SeparableConv2D):
        return True
    return isinstance(layer, keras.Model) and any(_has_conv(inner) for inner in layer.layers)


def _fit_to(base: keras.Model, x):
    """Resize images to the backbone's input size; a channel mismatch is a clear error."""
    want = tuple(base.input_shape[1:])
    have = tuple(x.shape[1:])
    if want[-1] != have[-1]:
        raise ModelError(f"the backbone takes {want[-1]}-channel images, the data has {have[-1]} channels",
                         where="data.color_mode",
                         fix=f"Set data.color_mode to {'rgb' if want[-1] == 3 else 'grayscale'}.")
    if want[:2] != have[:2]:
        say(f"  transfer: resizing images {have[:2]} -> {want[:2]} for the backbone", style="cyan")
        x = layers.Resizing(*want[:2])(x)
    return x


def find_base(model: keras.Model) -> keras.Model:
    """The frozen base inside a model built by :func:`mobilenetv2_transfer`."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name.startswith(BASE_PREFIX):
            return layer
    raise ModelError("the model has no transfer base (a nested model named base_...)", where="train.callbacks",
                     fix="FineTune works with models from kerasforge.models.zoo.transfer:mobilenetv2_transfer.")


class FineTune(keras.callbacks.Callback):
    """At epoch ``at_epoch`` (0-based), unfreeze the base's last ``unfreeze`` layers and continue with a
    fresh optimizer of the same kind at ``learning_rate``.

    >>> FineTune(at_epoch=10, unfreeze=30, learning_rate=1e-5).at_epoch   # doctest: +SKIP
    10
    """

    def __init__(self, at_epoch: int = 10, unfreeze: int = 30, learning_rate: float = 1e-5) -> None:
        super().__init__()
        self.at_epoch, self.unfreeze, self.learning_rate = int(at_epoch), int(unfreeze), float(learning_rate)
        self.done = False

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self.done or epoch < self.at_epoch:
            return
        model = self.model
        base = find_base(model)
        base.trainable = True
        cut = max(0, len(base.layers) - self.unfreeze)
        for i, layer in enumerate(base.layers):
            layer.trainable = i >= cut and not isinstance(layer, layers.BatchNormalization)
        config = model.optimizer.get_config()
        config["learning_rate"] = self.learning_rate
        optimizer = type(model.optimizer).from_config(config)
        optimizer.build(model.trainable_variables)
        model.optimizer = optimizer
        model.make_train_function(force=True)
        self.done = True
        count = sum(1 for layer in base.layers if layer.trainable and layer.weights)
        say(f"  fine-tuning from epoch {epoch + 1}: {count} layers of {base.name} unfrozen, "
            f"learning rate {self.learning_rate:g}", style="cyan")
