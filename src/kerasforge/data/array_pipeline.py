"""Host-scaled data that fits in memory, fed to Keras by a vectorised ``tf.data`` pipeline.

A model that scales its raw pixels per batch on the host (:mod:`kerasforge.data.host_scaling`) used to
always stream: Keras then pulled every batch from a Python iterator (Grain, through Keras' generator
adapter on TensorFlow), which made a small model's epoch about twice as slow as float32 arrays. When the
memory pre-flight says the data fits, :func:`fit_in_memory` keeps the raw ``uint8`` arrays as tensors on
the host and lets ``tf.data`` gather and scale each batch in-graph — no Python per batch — in exactly the
order of the streaming path (:func:`kerasforge.data.stream.epoch_order` of (seed, epoch, shard), sorted
within a batch), so a resumed run and a streamed run see the same batches.

The per-epoch orders of the epochs to run are computed up front (a few bytes per example per epoch);
a callback tells the pipeline which epoch Keras is in, and the pipeline reads it when Keras starts the
epoch's iterator. Validation reads its split in file order the same way. Evaluation and prediction after
training keep the streaming path.

Example:
    >>> import numpy as np
    >>> from kerasforge.data.host_scaling import ScaledRows
    >>> rows = ScaledRows(np.arange(12, dtype=np.uint8).reshape(6, 2), [0.0], [2.0], (2,))
    >>> feed = InMemoryBatches(rows, np.arange(6), 4, seed=0, shuffle=False, epochs=range(1))
    >>> [float(b[0].numpy().max()) for b in feed.dataset()]
    [3.5, 5.5]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .host_scaling import ScaledRows
from .stream import class_sample_weights, epoch_order


def in_memory_feed() -> str:
    """``"tf.data"`` where host-scaled data that fits is fed from memory (the TensorFlow backend), else ``""``
    (on JAX and PyTorch it streams through Grain: no TensorFlow import for it there)."""
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else ""


def supported(x: Any, y: Any) -> bool:
    """Whether :func:`fit_in_memory` takes ``x``/``y``: host-scaled rows (one array or a dict of named
    inputs, all :class:`ScaledRows`) and labels as arrays or a dict of arrays. Anything else streams."""
    xs = list(x.values()) if isinstance(x, dict) else [x]
    ys = list(y.values()) if isinstance(y, dict) else [y]
    return bool(xs) and all(isinstance(v, ScaledRows) for v in xs) and all(isinstance(v, np.ndarray) for v in ys)


def _host_tensor(value: np.ndarray):
    """``value`` as a tensor in host memory (never on an accelerator: ``tf.data`` gathers on the CPU)."""
    import tensorflow as tf

    with tf.device("/cpu:0"):
        return tf.convert_to_tensor(np.ascontiguousarray(value))


class InMemoryBatches:
    """Batches of ``x``/``y`` (and per-example ``sample_weight``) as a ``tf.data`` pipeline: raw rows kept
    as one host tensor per input, each batch gathered and scaled in-graph. ``epochs`` are the epochs the
    pipeline may be asked for (their orders are computed here); ``set_epoch`` picks the current one."""

    def __init__(self, x: Any, y: Any, batch_size: int, *, seed: int = 0, shuffle: bool = False,
                 epochs: range = range(1), shard: tuple[int, int] = (0, 1), multiple: int = 1,
                 sample_weight: np.ndarray | None = None) -> None:
        import tensorflow as tf

        self.x, self.y, self.batch_size, self.sample_weight = x, y, batch_size, sample_weight
        self.n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        self.first = epochs.start
        orders = [epoch_order(self.n, seed, e, shuffle, shard, multiple) for e in epochs]
        self.rows = len(orders[0]) if orders else 0
        self.orders = _host_tensor(np.stack(orders).astype(np.int64) if orders
                                   else np.zeros((1, 0), np.int64))
        with tf.device("/cpu:0"):
            self.epoch = tf.Variable(self.first, dtype=tf.int64, trainable=False)

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch.assign(epoch)

    def dataset(self):
        """The ``tf.data.Dataset`` of this epoch's batches (Keras makes a new iterator per epoch)."""
        import tensorflow as tf

        b, rows = self.batch_size, self.rows

        def prepare(rows_: ScaledRows):
            raw = _host_tensor(rows_.raw)
            offset, divisor = tf.constant(rows_.offset), tf.constant(rows_.divisor)
            natural = [-1, *rows_.natural_shape]

            def scale(index):
                batch = tf.gather(raw, index)
                natural_batch = tf.reshape(tf.cast(batch, tf.float32), natural)
                return tf.reshape((natural_batch - offset) / divisor, tf.shape(batch))
            return scale

        scalers = ({k: prepare(v) for k, v in self.x.items()} if isinstance(self.x, dict) else prepare(self.x))
        labels = ({k: _host_tensor(v) for k, v in self.y.items()} if isinstance(self.y, dict)
                  else None if self.y is None else _host_tensor(self.y))
        weights = None if self.sample_weight is None else _host_tensor(self.sample_weight.astype(np.float32))
        orders, epoch, first = self.orders, self.epoch, self.first

        def batch(i):
            order = tf.gather(orders, epoch.read_value() - first)
            index = tf.sort(order[i * b:tf.minimum((i + 1) * b, rows)])  # sorted, as the streaming reads
            x = ({k: s(index) for k, s in scalers.items()} if isinstance(scalers, dict) else scalers(index))
            if labels is None:
                return (x,)
            y = ({k: tf.gather(v, index) for k, v in labels.items()} if isinstance(labels, dict)
                 else tf.gather(labels, index))
            return (x, y) if weights is None else (x, y, tf.gather(weights, index))

        return (tf.data.Dataset.range(len(self))
                .map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))


def epoch_setter(feed: InMemoryBatches):
    """A Keras callback that sets ``feed``'s epoch when Keras begins one (before it makes the iterator)."""
    import keras

    class InMemoryEpochSetter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            feed.set_epoch(epoch)

    return InMemoryEpochSetter()


def fit_in_memory(model: Any, x: Any, y: Any, *, validation_data: tuple | None, epochs: int, initial_epoch: int,
                  batch_size: int, shuffle: bool, class_weight: dict[int, float] | None, callbacks: list,
                  verbose: Any, seed: int, shard: tuple[int, int] = (0, 1), multiple: int = 1) -> Any:
    """``model.fit`` on in-memory raw rows, scaled per batch by ``tf.data``: the arguments and the example
    order of :func:`kerasforge.data.stream.fit_streamed`, which it falls back to for data it does not take
    (see :func:`supported`) or a validation split that is not host-scaled rows.

    >>> fit_in_memory(model, x["train"], y["train"], validation_data=None, epochs=2, initial_epoch=0,
    ...               batch_size=32, shuffle=True, class_weight=None, callbacks=[], verbose=0,
    ...               seed=1)  # doctest: +SKIP
    """
    from .stream import fit_streamed

    val_ok = validation_data is None or validation_data[0] is None or supported(*validation_data)
    if not supported(x, y) or not val_ok:
        return fit_streamed(model, x, y, validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                            batch_size=batch_size, shuffle=shuffle, class_weight=class_weight, callbacks=callbacks,
                            verbose=verbose, seed=seed, shard=shard, multiple=multiple)
    # class weights as per-example weights, as the streaming path (none for several outputs, as there)
    weights = class_sample_weights(y, class_weight) if not isinstance(y, dict) else None
    train = InMemoryBatches(x, y, batch_size, seed=seed, shuffle=shuffle, epochs=range(initial_epoch, epochs),
                            shard=shard, multiple=multiple, sample_weight=weights)
    from ..console import say

    say(f"  {train.rows} of {train.n} training examples per epoch on this process, in memory as raw values, "
        f"{len(train)} batches of {batch_size} gathered and scaled by tf.data, seed {seed}")
    val = None
    if validation_data is not None and validation_data[0] is not None:
        val = InMemoryBatches(validation_data[0], validation_data[1], batch_size).dataset()
    return model.fit(train.dataset(), validation_data=val, epochs=epochs, initial_epoch=initial_epoch,
                     callbacks=[epoch_setter(train), *callbacks], verbose=verbose, shuffle=False)
