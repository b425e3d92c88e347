"""Streaming texts: what the text cache's lazy splits need from Keras beyond image streaming.

Two gaps, each closed here in a few lines:

* Keras' Grain adapter describes a batch by its dtype, and a NumPy object array of str has none it knows
  ("Invalid dtype: object"): on TensorFlow, :func:`keras_strings` turns each batch's texts into a
  ``tf.string`` tensor in Grain's reader threads (the in-memory path gets the same from Keras' array
  adapter). JAX and PyTorch have no string tensors: a model that takes raw text runs on TensorFlow.
* ``TextVectorization.adapt`` takes an array or a batched ``tf.data.Dataset``: :func:`adaptable` gives it the
  training texts (of the cache, or a large in-memory array) as a dataset of batches of
  :data:`~kerasforge.data.text_cache.CHUNK` texts read in file order, so the vocabulary (and TF-IDF weights)
  are those of one whole array while only one batch of strings is tokenized at a time.

Example:
    >>> import numpy as np
    >>> adaptable(np.array(["a", "b"], dtype=object)).tolist()   # arrays are adapted as they are
    ['a', 'b']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .text_cache import CHUNK, CachedTexts


def _is_text(x: Any) -> bool:
    return isinstance(x, CachedTexts) or (isinstance(x, np.ndarray) and x.dtype.kind in "OUS")


def holds_strings(source: Any) -> bool:
    """Whether a streamed source (``EpochBatches``) reads texts."""
    readers = getattr(source, "readers", None)
    readers = readers.values() if isinstance(readers, dict) else [readers]
    return any(_is_text(getattr(r, "x", None)) for r in readers)


def keras_strings(dataset: Any, source: Any) -> Any:
    """``dataset`` (a Grain ``MapDataset`` of ``source``'s batches) with texts as ``tf.string`` tensors when
    the backend is TensorFlow and ``source`` reads texts; unchanged otherwise."""
    if not holds_strings(source):
        return dataset
    import keras

    if keras.backend.backend() != "tensorflow":
        return dataset
    import tensorflow as tf

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return tf.constant(value, tf.string) if _is_text(value) else value

    return dataset.map(lambda batch: tuple(convert(part) if i == 0 else part for i, part in enumerate(batch)))


def adaptable(x: Any) -> Any:
    """What a preprocessing layer adapts on: texts (in the decoded cache, or an in-memory array of more than
    :data:`CHUNK`) as a batched ``tf.data.Dataset`` of :data:`CHUNK` texts at a time in file order; anything
    else as it is. In batches because Keras' ``adapt`` on one array tokenizes every text at once: 283 MB of
    reviews took a 7 GiB peak that way (benchmarks/RESULTS.md), the same vocabulary either way."""
    if not (isinstance(x, CachedTexts) or (_is_text(x) and np.ndim(x) == 1 and len(x) > CHUNK)):
        return x
    import tensorflow as tf

    def batches():
        for start in range(0, len(x), CHUNK):
            rows = np.arange(start, min(start + CHUNK, len(x)))
            yield x.read(rows) if isinstance(x, CachedTexts) else np.asarray(x[start:start + CHUNK], dtype=object)

    return tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec([None], tf.string))
