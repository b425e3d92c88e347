"""Downloading a named dataset through Keras' own ``keras.datasets.<name>.load_data()`` (online only).

Keras is imported here, lazily, so that merely loading local data never fixes the Keras backend.

Example:
    >>> raw = download("mnist", num_words=10_000, maxlen=200, picker=Picker(2000, 0))   # doctest: +SKIP
"""

from __future__ import annotations

import socket

import numpy as np

from .dataset import Dataset
from .imdb import pad_sequences
from .source import DIGIT_CLASSES, FASHION_CLASSES, IMDB_CLASSES, Loaded
from .split import Picker

TIMEOUT_S = 30.0


def download(name: str, num_words: int, maxlen: int, picker: Picker) -> Loaded:
    """``name`` (fashion_mnist, mnist, cifar10, imdb) fetched by Keras into its cache; raises OSError
    (or whatever Keras raises) when that fails."""
    import keras  # lazy: see the module docstring

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)  # a dead network must fail, not hang
    try:
        module = getattr(keras.datasets, name)
        if name == "imdb":
            # Keras' own encoding of ranks; we pad ourselves (Keras would drop long reviews).
            (x_train, y_train), (x_test, y_test) = module.load_data(num_words=num_words)
        else:
            (x_train, y_train), (x_test, y_test) = module.load_data()
    finally:
        socket.setdefaulttimeout(old)
    y_train, y_test = np.asarray(y_train).reshape(-1).astype(np.int64), np.asarray(y_test).reshape(-1).astype(np.int64)
    tr, te = picker.pick(y_train, "train", shuffle=True), picker.pick(y_test, "test")
    source = f"downloaded by keras.datasets.{name}.load_data() into Keras' cache"
    if name == "imdb":
        xs = [pad_sequences([list(x_train[i]) for i in tr], maxlen), pad_sequences([list(x_test[i]) for i in te], maxlen)]
        ds = Dataset(name, xs[0], y_train[tr], xs[1], y_test[te], list(IMDB_CLASSES), task="binary", source=source)
        return Loaded(ds)
    x_train, x_test = np.asarray(x_train)[tr], np.asarray(x_test)[te]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    classes = {"fashion_mnist": FASHION_CLASSES, "mnist": DIGIT_CLASSES}.get(name)
    if classes is None:
        from .cifar import CIFAR10_CLASSES
        classes = CIFAR10_CLASSES
    ds = Dataset(name, x_train, y_train[tr], x_test, y_test[te], list(classes), source=source)
    return Loaded(ds, pixel_max=255)


