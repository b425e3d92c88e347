"""Host-scaled data that fits in memory, fed to Keras without Grain's per-batch reads.

A model that scales its raw pixels per batch on the host (:mod:`kerasforge.data.host_scaling`) used to
always stream: Keras then pulled every batch from a Python iterator (Grain; on TensorFlow through Keras'
generator adapter), up to twice as slow per epoch as float32 arrays for a small model. When the memory
pre-flight says the data fits, :func:`fit_in_memory` keeps the raw ``uint8`` arrays in memory, in exactly
the order of the streaming path (:func:`kerasforge.data.stream.epoch_order` of (seed, epoch, shard),
sorted within a batch), so a resumed run and a streamed run see the same batches:

- TensorFlow: :class:`InMemoryBatches`, a ``tf.data`` pipeline that gathers and scales each batch
  in-graph — no Python per batch. A callback puts each epoch's order (one index per example, computed
  once per epoch) into a host variable when Keras begins the epoch, before it makes the epoch's iterator.
- JAX and PyTorch (no TensorFlow import): :func:`chunked_batches`, a ``PyDataset`` that reads and scales
  :data:`CHUNK` batches at once (Keras takes batches in Python there, its array path too).

Validation reads its split in file order the same way. Evaluation and prediction after training keep
the streaming path.

Example:
    >>> import numpy as np
    >>> from kerasforge.data.host_scaling import ScaledRows
    >>> rows = ScaledRows(np.arange(12, dtype=np.uint8).reshape(6, 2), [0.0], [2.0], (2,))
    >>> feed = InMemoryBatches(rows, np.arange(6), 4, seed=0, shuffle=False)
    >>> [float(b[0].numpy().max()) for b in feed.dataset()]
    [3.5, 5.5]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .host_scaling import ScaledRows
from .stream import class_sample_weights, epoch_order, epoch_setter

CHUNK = 64  # batches read and scaled at once by :class:`ChunkedBatches`


def in_memory_feed() -> str:
    """How host-scaled data that fits is fed from memory: ``"tf.data"`` on TensorFlow, ``"chunks"`` (a
    :class:`ChunkedBatches` ``PyDataset``, no TensorFlow import) on JAX and PyTorch."""
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else "chunks"


def _batch_sorted(index: np.ndarray, batch_size: int) -> np.ndarray:
    """``index`` with each run of ``batch_size`` sorted (the streaming path reads a batch sorted)."""
    full = len(index) // batch_size * batch_size
    return np.concatenate([np.sort(index[:full].reshape(-1, batch_size), axis=1).reshape(-1), np.sort(index[full:])])


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
    as one host tensor per input, each batch gathered and scaled in-graph. The current epoch's order is a
    host variable that :meth:`set_epoch` replaces (starting with ``epoch``'s)."""

    def __init__(self, x: Any, y: Any, batch_size: int, *, seed: int = 0, shuffle: bool = False, epoch: int = 0,
                 shard: tuple[int, int] = (0, 1), multiple: int = 1, sample_weight: np.ndarray | None = None) -> None:
        import tensorflow as tf

        self.x, self.y, self.batch_size, self.sample_weight = x, y, batch_size, sample_weight
        self.n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        self.seed, self.shuffle, self.shard, self.multiple = seed, shuffle, shard, multiple
        first = self._order(epoch)
        self.rows = len(first)
        with tf.device("/cpu:0"):
            self.order = tf.Variable(first, dtype=tf.int64, trainable=False)

    def _order(self, epoch: int) -> np.ndarray:
        return epoch_order(self.n, self.seed, epoch, self.shuffle, self.shard, self.multiple).astype(np.int64)

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make ``epoch``'s order the current one (once per epoch, before Keras makes its iterator)."""
        self.order.assign(self._order(epoch))

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
        order = self.order

        def batch(i):
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


def chunked_batches(x: Any, y: Any, batch_size: int, *, seed: int = 0, shuffle: bool = False, epoch: int = 0,
                    shard: tuple[int, int] = (0, 1), multiple: int = 1, sample_weight: np.ndarray | None = None):
    """A ``keras.utils.PyDataset`` of the streaming path's batches (same order), read and scaled
    :data:`CHUNK` batches at a time from the arrays in memory — the JAX/PyTorch feed, where Keras takes
    batches in Python anyway (its own array path too) and Grain's per-batch reads cost about 1.5×."""
    import keras

    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)

    def take(value: Any, index: np.ndarray) -> Any:
        return {k: np.asarray(v[index]) for k, v in value.items()} if isinstance(value, dict) else np.asarray(value[index])

    class ChunkedBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.set_epoch(epoch)

        def set_epoch(self, e: int) -> None:
            self.order = epoch_order(n, seed, e, shuffle, shard, multiple)
            self.rows, self.chunk, self.data = len(self.order), -1, None

        def __len__(self) -> int:
            return math.ceil(len(self.order) / batch_size)

        def __getitem__(self, i: int):
            chunk, span = divmod(i, CHUNK)
            if chunk != self.chunk:
                index = _batch_sorted(self.order[chunk * CHUNK * batch_size:(chunk + 1) * CHUNK * batch_size],
                                      batch_size)
                data = [take(x, index)] + ([] if y is None else [take(y, index)])
                self.chunk, self.data = chunk, data + ([] if sample_weight is None else [sample_weight[index]])
            part = slice(span * batch_size, (span + 1) * batch_size)
            return tuple({k: v[part] for k, v in d.items()} if isinstance(d, dict) else d[part] for d in self.data)

    return ChunkedBatches()


def fit_in_memory(model: Any, x: Any, y: Any, *, validation_data: tuple | None, epochs: int, initial_epoch: int,
                  batch_size: int, shuffle: bool, class_weight: dict[int, float] | None, callbacks: list,
                  verbose: Any, seed: int, shard: tuple[int, int] = (0, 1), multiple: int = 1) -> Any:
    """``model.fit`` on in-memory raw rows, scaled per batch (``tf.data`` on TensorFlow, chunks elsewhere): the arguments and the example
    order of :func:`kerasforge.data.stream.fit_streamed`, which it falls back to for data it does not take
    (see :func:`supported`), a validation split that is not host-scaled rows, or a multi-process run.

    >>> fit_in_memory(model, x["train"], y["train"], validation_data=None, epochs=2, initial_epoch=0,
    ...               batch_size=32, shuffle=True, class_weight=None, callbacks=[], verbose=0,
    ...               seed=1)  # doctest: +SKIP
    """
    from .stream import fit_streamed

    val_ok = validation_data is None or validation_data[0] is None or supported(*validation_data)
    # several processes (JAX's distribution API) keep the Grain path their sharding was built and tested on
    if not supported(x, y) or not val_ok or shard[1] > 1:
        return fit_streamed(model, x, y, validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                            batch_size=batch_size, shuffle=shuffle, class_weight=class_weight, callbacks=callbacks,
                            verbose=verbose, seed=seed, shard=shard, multiple=multiple)
    # class weights as per-example weights, as the streaming path (none for several outputs, as there)
    weights = class_sample_weights(y, class_weight) if not isinstance(y, dict) else None
    options = dict(seed=seed, shuffle=shuffle, epoch=initial_epoch, shard=shard, multiple=multiple,
                   sample_weight=weights)
    has_val = validation_data is not None and validation_data[0] is not None
    if in_memory_feed() == "tf.data":
        train = InMemoryBatches(x, y, batch_size, **options)  # type: ignore[arg-type]
        feed, how = train.dataset(), "gathered and scaled by tf.data"
        val = InMemoryBatches(validation_data[0], validation_data[1], batch_size).dataset() if has_val else None
    else:
        feed = train = chunked_batches(x, y, batch_size, **options)  # type: ignore[arg-type]
        how = f"read and scaled {CHUNK} batches at a time"
        val = chunked_batches(validation_data[0], validation_data[1], batch_size) if has_val else None
    from ..console import say

    say(f"  {train.rows} training examples per epoch on this process, in memory as raw values, {len(train)} batches of "
        f"{batch_size} {how}, seed {seed}")
    return model.fit(feed, validation_data=val, epochs=epochs, initial_epoch=initial_epoch,
                     callbacks=[epoch_setter(train), *callbacks], verbose=verbose, shuffle=False)
