"""Streaming: batches read from the decoded cache through Grain, in bounded memory.

:class:`EpochBatches` is a random-access source whose item ``i`` is batch ``i`` of the current epoch: a
seeded permutation of the whole split for each (seed, epoch) — a global shuffle, not a shuffle buffer, so a
resumed run sees the same order as an uninterrupted one — cut to this process's shard in a multi-process
run. Rows are read with ``pread`` from the ``.npy`` file (sorted within a batch), so the process never maps
the whole split into its memory. :func:`grain_dataset` wraps it in a Grain pipeline (reader threads and
prefetch) that Keras' ``fit``/``evaluate``/``predict`` take on every backend; :class:`EpochSetter` tells
the source which epoch Keras is in.

Grain rather than ``tf.data``: the cache is random access (Grain's model), the order is a deterministic
function of (seed, epoch, shard), and it serves JAX (this project's default backend) without TensorFlow.

Example:
    >>> import numpy as np
    >>> src = EpochBatches(np.arange(10).reshape(10, 1), np.arange(10), 4, seed=0, shuffle=True)
    >>> len(src), src[2][0].shape
    (3, (2, 1))
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np

THREADS = 4
PREFETCH = 8


def _file_rows(x: np.ndarray) -> tuple[str, int, int] | None:
    """``(file, offset of row 0, bytes per row)`` when ``x`` is a C-contiguous memory-mapped array."""
    base = x
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    filename = getattr(x, "filename", None) or getattr(base, "filename", None)
    if filename is None or not x.flags.c_contiguous or base is None:
        return None
    start = x.__array_interface__["data"][0] - base.__array_interface__["data"][0] + int(getattr(base, "offset", 0))
    return str(filename), start, int(x[0:1].nbytes) if len(x) else 0


class RowReader:
    """Rows of an array by index: ``pread`` from its file when memory-mapped, plain indexing otherwise."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.file = _file_rows(x) if isinstance(x, np.ndarray) else None
        self._fd: int | None = None

    def __getstate__(self) -> dict:  # picklable for worker processes: no open descriptor travels
        return {**self.__dict__, "_fd": None}

    def read(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (sorted ascending reads the file in order) as an in-memory array."""
        if self.file is None:
            return np.asarray(self.x[index])
        name, start, row = self.file
        if self._fd is None:
            self._fd = os.open(name, os.O_RDONLY)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
        index = np.asarray(index, np.int64)
        out = np.empty((len(index), *self.x.shape[1:]), self.x.dtype)
        view = out.reshape(len(index), -1).view(np.uint8)
        if not len(index):
            return out
        breaks = np.flatnonzero(np.diff(index) != 1) + 1  # runs of consecutive rows: one read each
        for first, stop in zip(np.r_[0, breaks], np.r_[breaks, len(index)], strict=True):
            count = int(stop - first)
            data = os.pread(self._fd, row * count, start + int(index[first]) * row)
            view[first:stop] = np.frombuffer(data, np.uint8).reshape(count, -1)
        return out


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool, shard: tuple[int, int] = (0, 1),
                multiple: int = 1) -> np.ndarray:
    """The example order of one epoch: a permutation seeded by (seed, epoch), then every ``count``-th
    example from ``index`` (the shard); all shards have the same length, a multiple of ``multiple`` (the
    process's devices: every batch must split evenly over them). With a per-process batch of ``b``, batch
    ``i`` of all shards together is batch ``i`` (of ``b * count``) of the one-process order: the union over
    processes is the whole epoch, in the same order.

    >>> epoch_order(6, 1, 0, True).tolist() == epoch_order(6, 1, 0, True).tolist()
    True
    >>> sorted(epoch_order(6, 1, 0, True, (0, 2)).tolist() + epoch_order(6, 1, 0, True, (1, 2)).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    index, count = shard
    if count > 1 or multiple > 1:
        order = order[: n // (count * multiple) * (count * multiple)][index::count]
    return order


class EpochBatches:
    """Batch ``i`` of the current epoch of ``x``/``y`` (``y`` may be a dict or ``None``), with optional
    per-example weights; ``epoch`` is set by :class:`EpochSetter`."""

    def __init__(self, x: Any, y: Any, batch_size: int, *, seed: int = 0, shuffle: bool = False,
                 shard: tuple[int, int] = (0, 1), multiple: int = 1, sample_weight: np.ndarray | None = None) -> None:
        self.readers = {k: RowReader(v) for k, v in x.items()} if isinstance(x, dict) else RowReader(x)
        self.y, self.batch_size, self.seed, self.shuffle, self.shard = y, batch_size, seed, shuffle, shard
        self.multiple = multiple
        self.sample_weight = sample_weight
        self.n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        self.epoch = 0
        self._orders: dict[int, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        """Make ``epoch``'s order the current one (see :func:`epoch_setter`)."""
        self.epoch = epoch

    def order(self, epoch: int) -> np.ndarray:
        """This shard's example order for ``epoch`` (cached for the last two epochs)."""
        if epoch not in self._orders:
            self._orders = {k: v for k, v in self._orders.items() if k >= epoch - 1}
            self._orders[epoch] = epoch_order(self.n, self.seed, epoch, self.shuffle, self.shard, self.multiple)
        return self._orders[epoch]

    def __len__(self) -> int:
        return math.ceil(len(self.order(self.epoch)) / self.batch_size)

    def __getitem__(self, i: int):
        index = np.sort(self.order(self.epoch)[i * self.batch_size:(i + 1) * self.batch_size])
        x = ({k: r.read(index) for k, r in self.readers.items()} if isinstance(self.readers, dict)
             else self.readers.read(index))
        if self.y is None:
            return (x,)
        y = {k: np.asarray(v[index]) for k, v in self.y.items()} if isinstance(self.y, dict) else np.asarray(self.y[index])
        if self.sample_weight is not None:
            return x, y, self.sample_weight[index]
        return x, y


def grain_dataset(source: EpochBatches, *, threads: int = THREADS, prefetch: int = PREFETCH):
    """``source`` as a Grain ``IterDataset`` with ``threads`` reader threads and ``prefetch`` batches ahead."""
    import grain

    from .text_stream import keras_strings  # texts: tf.string batches on TensorFlow

    return keras_strings(grain.MapDataset.source(source), source).to_iter_dataset(
        grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch))


def known_length(dataset: Any, batches: int) -> Any:
    """On TensorFlow, the Grain ``dataset`` as the ``tf.data`` dataset Keras would make of it, with its
    length (``batches``) declared; elsewhere ``dataset`` itself.

    Keras' TensorFlow trainer, at one step per call, runs a last step on a dataset of unknown length that
    finds no batch: the weights are untouched but ``optimizer.iterations`` still counts it, one extra per
    epoch — Adam's bias correction and step-based learning-rate schedules then drift from the in-memory
    run's. With the length known it runs exactly ``batches`` steps (and still starts a new pass each epoch).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return dataset
    import tensorflow as tf
    from keras.src.trainers.data_adapters.grain_dataset_adapter import GrainDatasetAdapter

    return GrainDatasetAdapter(dataset).get_tf_dataset().apply(tf.data.experimental.assert_cardinality(batches))


@contextlib.contextmanager
def quiet_unknown_length():
    """Silence the warnings Keras gives at the end of each pass over a dataset of unknown length."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ran out of data.*")
        warnings.filterwarnings("ignore", message=".*grain dataset is expected.*")
        yield


def streamed_batches(x: Any, y: Any, batch_size: int):
    """``x``/``y`` in order, as a Grain dataset of batches (for ``evaluate``/``predict`` in bounded memory)."""
    return grain_dataset(EpochBatches(x, y, batch_size))


def class_sample_weights(y: np.ndarray, class_weight: dict[int, float] | None) -> np.ndarray | None:
    """Per-example weights from Keras' ``class_weight`` (sparse ids or one-hot labels)."""
    if not class_weight:
        return None
    ids = np.argmax(y, axis=-1) if np.ndim(y) > 1 and np.shape(y)[-1] > 1 else np.asarray(y).reshape(len(y))
    table = np.ones(int(max(max(class_weight) + 1, ids.max() + 1)), np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    return table[ids.astype(np.int64)]


def epoch_setter(*sources: Any):
    """A Keras callback that calls each source's ``set_epoch`` when Keras begins an epoch (before it makes
    the epoch's iterator): :class:`EpochBatches`, and the in-memory feeds of :mod:`kerasforge.data.array_pipeline`."""
    import keras

    class EpochSetter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            for source in sources:
                source.set_epoch(epoch)

    return EpochSetter()


def fit_streamed(model: Any, x: Any, y: Any, *, validation_data: tuple | None, epochs: int, initial_epoch: int,
                 batch_size: int, shuffle: bool, class_weight: dict[int, float] | None, callbacks: list,
                 verbose: Any, seed: int, shard: tuple[int, int] = (0, 1), multiple: int = 1) -> Any:
    """``model.fit`` on streamed batches: same arguments as Keras' array ``fit`` (plus ``seed``, ``shard``
    and ``multiple``), training order = :func:`epoch_order` of (seed, epoch), validation in file order."""
    train = EpochBatches(x, y, batch_size, seed=seed, shuffle=shuffle, shard=shard, multiple=multiple,
                         sample_weight=class_sample_weights(y, class_weight) if not isinstance(y, dict) else None)
    train.epoch = initial_epoch
    from ..console import say

    say(f"  streaming {len(train.order(initial_epoch))} of {train.n} training examples per epoch on this process "
        f"(shard {shard[0] + 1} of {shard[1]}), {len(train)} batches of {batch_size}, seed {seed}")
    val = None
    if validation_data is not None and validation_data[0] is not None:
        val = grain_dataset(EpochBatches(validation_data[0], validation_data[1], batch_size))
    with quiet_unknown_length():
        return model.fit(known_length(grain_dataset(train), len(train)), validation_data=val, epochs=epochs,
                         initial_epoch=initial_epoch,
                         callbacks=[epoch_setter(train), *callbacks], verbose=verbose, shuffle=False)
