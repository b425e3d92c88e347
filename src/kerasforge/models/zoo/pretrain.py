"""A backbone pretrained here, offline: a ``keras.applications`` network trained on CIFAR-10 (the shared
``cifar10-jpeg.npz``) once, its weights cached for every later run.

No ImageNet weights can be downloaded on an offline machine; a network that has seen 50,000 natural
images transfers far better than random weights. The weights do not depend on the image size (the
networks are fully convolutional), so a backbone trained on 32×32 images serves 160×160 ones.

The cache is ``$KFORGE_CACHE_DIR/backbones`` (default ``~/.cache/kerasforge/backbones``), one file per
network, width, examples and epochs.

Example:
    >>> path = cifar10_backbone("MobileNetV2", alpha=0.35, examples=256, epochs=1)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ...console import say
from .applications import MIN_SIDE, application, preprocessing

DEFAULT_EXAMPLES = 20000
DEFAULT_EPOCHS = 5


def cache_dir() -> Path:
    """Where pretrained backbones are kept."""
    base = os.environ.get("KFORGE_CACHE_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "kerasforge") / "backbones"


def cifar10_backbone(name: str = "MobileNetV2", *, alpha: float = 1.0, examples: int = DEFAULT_EXAMPLES,
                     epochs: int = DEFAULT_EPOCHS, seed: int = 0) -> Path:
    """The weights file (no top) of ``name`` trained on ``examples`` CIFAR-10 images for ``epochs``: from
    the cache, or trained now (and said so)."""
    import keras

    from ...data import load_dataset
    from ...recipe import DataSpec

    path = cache_dir() / f"{name}-alpha{alpha:g}-cifar10-{examples}x{epochs}.weights.h5"
    if path.is_file():
        say(f"  transfer: reusing the {name} backbone pretrained on CIFAR-10 ({path})", style="cyan")
        return path
    say(f"  transfer: no ImageNet weights here, so {name} is pretrained on CIFAR-10 first ({examples} images, "
        f"{epochs} epochs; once — cached in {path})", style="cyan")
    start = time.perf_counter()
    data = load_dataset(DataSpec(dataset="cifar10", subset=examples), seed=seed)
    side = max(32, MIN_SIDE.get(name, 32))
    base = application(name, (side, side, 3), weights=None, alpha=alpha)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Resizing(side, side)(inputs) if side != 32 else inputs
    x = keras.layers.RandomFlip("horizontal")(x)
    x = base(preprocessing(name)(x))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    base.save_weights(tmp)
    os.replace(tmp, path)
    say(f"  transfer: {name} pretrained on CIFAR-10 in {time.perf_counter() - start:.0f} s "
        f"(training accuracy {history.history['accuracy'][-1]:.3f})", style="cyan")
    return path
