"""Transfer learning: a pretrained convolutional base, a new head, then fine-tuning of some of its layers.

:func:`transfer` takes any ``keras.applications`` network by name (``application: MobileNetV2``,
``VGG16``, ``ResNet50``, ``EfficientNetB0``..., see :mod:`.applications`); the base's weights come from:

* ``weights: auto`` — ImageNet weights when Keras has them or can download them (not with
  ``KFORGE_OFFLINE``), else a backbone pretrained here on CIFAR-10 (:mod:`.pretrain`, trained once and
  cached; ``pretrain: {examples: N, epochs: E}`` sizes it). What was used is printed.
* ``weights: imagenet`` — Keras' ImageNet weights (from its cache or downloaded); a clear error offline.
* ``weights: cifar10`` — the CIFAR-10 backbone, always.
* ``weights: path/to/..._no_top.h5`` — a local weights file (a relative path is also looked for under
  ``$KFORGE_DATA_DIR``).
* ``backbone: runs/<run>`` — the ``model.keras`` of an earlier kerasforge run (or a ``.keras`` file): its
  largest convolutional base is cut out.
* ``weights: random`` — random weights, for tests only (nothing is transferred).

The base's name says which (``base_imagenet``, ``base_cifar10``, ``base_file``, ``base_backbone``,
``base_random``). Two phases: first the base is frozen and only the head learns; then :class:`FineTune`
(a callback in ``train.callbacks``) unfreezes layers of the base at epoch ``at_epoch`` — the last
``unfreeze`` layers, or those whose name matches ``pattern`` (a regular expression), or both — and swaps
in a fresh optimizer of the same kind with a small learning rate. This works on Keras 3 because the fit
loop calls ``model.train_function`` anew at every step: the callback rebuilds it after changing which
weights are trainable. BatchNormalization layers of the base always run in inference mode (the base is
called with ``training=False``) and stay frozen, so a small dataset cannot wreck their statistics.

Example:
    >>> model = transfer((96, 96, 3), 2, application="VGG16", weights="random")   # doctest: +SKIP
    >>> FineTune(at_epoch=5, pattern="block5_")                                  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from ...console import say
from ...errors import ModelError

BASE_PREFIX = "base_"


def transfer(input_shape: Sequence[int], num_classes: int, *, application: str = "MobileNetV2",
             weights: str | None = None, backbone: str | None = None, alpha: float = 1.0, dropout: float = 0.2,
             augment: bool = True, pretrain: dict | None = None, name: str = "transfer") -> keras.Model:
    """Frozen base (a ``keras.applications`` network or a backbone of an earlier run) → GlobalAveragePooling
    → Dropout → Dense.

    Inputs are images scaled to [0, 1] (kerasforge's default ``normalize: scale``); they are mapped to the
    range the base's weights were trained on. ``augment`` adds a random flip and a small rotation.

    >>> transfer((96, 96, 3), 2).count_params()   # doctest: +SKIP
    Traceback (most recent call last):
    kerasforge.errors.ModelError: model.kwargs: no pretrained base was given...
    """
    from .applications import check_name, preprocessing

    shape = tuple(int(d) for d in input_shape)
    check_name(application)
    base, source = _base(shape, application=application, weights=weights, backbone=backbone, alpha=alpha,
                         pretrain=pretrain or {})
    base.trainable = False
    say(f"  transfer: {source}", style="cyan")

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if augment:
        x = layers.RandomFlip("horizontal")(x)
        x = layers.RandomRotation(0.05)(x)
    backbone_run = base.name == BASE_PREFIX + "backbone"
    x = _fit_to(base, x) if backbone_run else preprocessing(application)(x)
    x = base(x, training=False)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)


def mobilenetv2_transfer(input_shape: Sequence[int], num_classes: int, **kwargs) -> keras.Model:
    """:func:`transfer` with a MobileNetV2 base (the tutorials' model).

    >>> mobilenetv2_transfer((96, 96, 3), 2, weights="random", alpha=0.35).name   # doctest: +SKIP
    'transfer'
    """
    return transfer(input_shape, num_classes, **{"application": "MobileNetV2", **kwargs})


def _base(shape: tuple[int, ...], *, application: str, weights: str | None, backbone: str | None,
          alpha: float, pretrain: dict) -> tuple[keras.Model, str]:
    from .applications import application as build

    if weights and backbone:
        raise ModelError("both `weights` and `backbone` are given", where="model.kwargs",
                         fix="Keep one: `weights: auto|imagenet|cifar10|<.h5 file>` or `backbone: runs/<run>`.")
    if backbone:
        base = convolutional_base(backbone)
        base.name = BASE_PREFIX + "backbone"  # type: ignore[misc]
        return base, f"convolutional base of {backbone} ({len(base.layers)} layers, input {base.input_shape})"
    if weights == "random":
        base = build(application, shape, weights=None, alpha=alpha)
        base.name = BASE_PREFIX + "random"  # type: ignore[misc]
        return base, f"{application} with RANDOM weights (nothing pretrained: for tests only)"
    if weights in ("auto", "imagenet"):
        base, problem = _imagenet(application, shape, alpha, try_download=not offline())
        if base is not None:
            return base, f"{application} with ImageNet weights"
        if weights == "imagenet":
            raise ModelError(f"Keras' ImageNet weights for {application} are not here and could not be downloaded "
                             f"({problem})", where="model.kwargs.weights",
                             fix="Give the weights file (`weights: path/to/..._no_top.h5`, e.g. under "
                                 "$KFORGE_DATA_DIR), or `weights: auto` / `cifar10` to pretrain a backbone on "
                                 "CIFAR-10 here.")
        weights = "cifar10"
    if weights == "cifar10":
        from .pretrain import cifar10_backbone

        path = cifar10_backbone(application, alpha=alpha, **{k: int(v) for k, v in pretrain.items()})
        base = build(application, shape, weights=None, alpha=alpha)
        base.load_weights(path)
        base.name = BASE_PREFIX + "cifar10"  # type: ignore[misc]
        return base, f"{application} pretrained on CIFAR-10 ({path.name})"
    if weights:
        path = _weights_file(weights)
        try:
            base = build(application, shape, weights=str(path), alpha=alpha)
        except (ValueError, OSError) as exc:
            raise ModelError(f"the weights file {path} does not fit {application}(alpha={alpha}, no top): "
                             f"{str(exc).splitlines()[0]}", where="model.kwargs.weights",
                             fix=f"Use Keras' no-top weights file of {application} (for MobileNetV2: "
                                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<alpha>_<size>_no_top.h5 "
                                 "matching `alpha`).") from None
        base.name = BASE_PREFIX + "file"  # type: ignore[misc]
        return base, f"{application} with weights from {path}"
    raise ModelError(
        "no pretrained base was given", where="model.kwargs",
        fix="Set `weights: auto` (ImageNet weights when Keras has them, else a backbone pretrained here on "
            "CIFAR-10), `imagenet`, `cifar10`, a local weights file (.h5, no top), or `backbone:` a kerasforge "
            "run folder whose model.keras has a convolutional base; `weights: random` trains from scratch "
            "(tests only).")


def offline() -> bool:
    """No downloads (``KFORGE_OFFLINE``)."""
    from ...data.locate import offline as no_downloads

    return no_downloads()


def _imagenet(application: str, shape, alpha: float, *, try_download: bool):
    """(base with ImageNet weights, None), or (None, why not). Offline, only Keras' cache is looked at."""
    from .applications import application as build

    if not try_download:
        return None, "KFORGE_OFFLINE is set"
    try:
        base = build(application, shape, weights="imagenet", alpha=alpha)
    except Exception as exc:  # no network, no cached file, a size Keras has no weights for
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"[:300]
    base.name = BASE_PREFIX + "imagenet"  # type: ignore[misc]
    return base, None


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


def find_base(model: keras.Model, name: str | None = None) -> keras.Model:
    """The base inside a transfer model: the nested model called ``name``, else the one named ``base_...``,
    else the nested model with the most parameters (any functional model with a pretrained inside)."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    for layer in nested:
        if (name and layer.name == name) or (not name and layer.name.startswith(BASE_PREFIX)):
            return layer
    if nested and not name:
        return max(nested, key=lambda m: m.count_params())
    raise ModelError(f"the model has no nested base model{f' named {name!r}' if name else ''} to fine-tune",
                     where="train.callbacks (FineTune)",
                     fix="FineTune unfreezes layers of a pretrained base nested in the model (as "
                         "kerasforge.models.zoo.transfer:transfer builds it); `base:` names it, "
                         f"the nested models here are: {[m.name for m in nested] or 'none'}.")


class FineTune(keras.callbacks.Callback):
    """At epoch ``at_epoch`` (0-based), unfreeze layers of the base and continue with a fresh optimizer of
    the same kind at ``learning_rate``: the last ``unfreeze`` layers, those whose name matches ``pattern``
    (a regular expression, ``re.search``), or — both given — the last ``unfreeze`` of those matching.
    ``base`` names the nested base model (default: see :func:`find_base`). BatchNormalization stays frozen.

    >>> FineTune(at_epoch=10, unfreeze=30, learning_rate=1e-5).at_epoch   # doctest: +SKIP
    10
    >>> FineTune(at_epoch=3, pattern=r"^block_1[3-6]_|^Conv_1")              # doctest: +SKIP
    """

    def __init__(self, at_epoch: int = 10, unfreeze: int | None = None, learning_rate: float = 1e-5,
                 pattern: str | None = None, base: str | None = None) -> None:
        super().__init__()
        if unfreeze is None and pattern is None:
            unfreeze = 30
        try:
            self.pattern = re.compile(pattern) if pattern else None
        except re.error as exc:
            raise ModelError(f"FineTune pattern {pattern!r} is not a regular expression ({exc})",
                             where="train.callbacks (FineTune.pattern)",
                             fix="Write a Python regular expression, e.g. 'block_1[3-6]_|Conv_1'.") from None
        self.at_epoch, self.learning_rate = int(at_epoch), float(learning_rate)
        self.unfreeze = None if unfreeze is None else int(unfreeze)
        self.base_name = base
        self.done = False

    def chosen(self, base: keras.Model) -> list:
        """The layers of ``base`` this callback unfreezes (BatchNormalization never)."""
        candidates = [layer for layer in base.layers if not isinstance(layer, layers.BatchNormalization)]
        if self.pattern is not None:
            candidates = [layer for layer in candidates if self.pattern.search(layer.name)]
        if self.unfreeze is not None:
            tail = set(map(id, base.layers[max(0, len(base.layers) - self.unfreeze):]))
            candidates = [layer for layer in candidates if id(layer) in tail] if self.pattern is None else \
                candidates[max(0, len(candidates) - self.unfreeze):]
        return candidates

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self.done or epoch < self.at_epoch:
            return
        model = self.model
        base = find_base(model, self.base_name)
        chosen = set(map(id, self.chosen(base)))
        if not chosen:
            raise ModelError(f"FineTune matches no layer of {base.name}", where="train.callbacks (FineTune)",
                             fix=f"Check `pattern`/`unfreeze` against the base's layer names (first: "
                                 f"{[layer.name for layer in base.layers[:3]]}, last: "
                                 f"{[layer.name for layer in base.layers[-3:]]}).")
        base.trainable = True
        for layer in base.layers:
            layer.trainable = id(layer) in chosen
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
