"""Texts streamed to Keras: TextVectorization adapted from the cache's batches as from the whole array, and
string batches Keras' Grain adapter can describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasforge.data import text_cache
from kerasforge.data.text_cache import read_texts, write_texts
from kerasforge.data.text_stream import adaptable, keras_strings


def corpus(folder: Path) -> text_cache.CachedTexts:
    rng = np.random.default_rng(0)
    words = np.array("the a film great awful plot actor was not very good bad story music <br /> Ünïcødé".split())
    write_texts(folder, "train", [" ".join(rng.choice(words, rng.integers(3, 30))) for _ in range(300)])
    return read_texts(folder, "train")


def test_adapted_from_cache_batches_as_from_the_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.setattr(text_cache, "CHUNK", 64)  # several batches
    monkeypatch.setattr("kerasforge.data.text_stream.CHUNK", 64)
    texts = corpus(tmp_path)
    streamed = keras.layers.TextVectorization(max_tokens=12, ngrams=2, output_mode="tf_idf")
    with monkeypatch.context() as spy:
        spy.setattr(text_cache.CachedTexts, "__array__", lambda *a, **k: pytest.fail("all texts were read"))
        streamed.adapt(adaptable(texts))
    whole = keras.layers.TextVectorization(max_tokens=12, ngrams=2, output_mode="tf_idf")
    whole.adapt(np.asarray(texts))
    assert streamed.get_vocabulary() == whole.get_vocabulary() and len(whole.get_vocabulary()) == 12
    sample = np.asarray(texts[:20])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(streamed(sample)),  # the same TF-IDF weights
                               keras.ops.convert_to_numpy(whole(sample)), rtol=1e-6)
    batched = keras.layers.TextVectorization(max_tokens=12, ngrams=2, output_mode="tf_idf")
    array = np.asarray(texts)
    assert adaptable(array) is not array  # more than CHUNK texts in memory: adapted in batches too
    batched.adapt(adaptable(array))
    assert batched.get_vocabulary() == whole.get_vocabulary()
    plain = np.array(["a", "b"], dtype=object)
    assert adaptable(plain) is plain


def test_string_batches_become_tf_strings_on_tensorflow(tmp_path: Path) -> None:
    import grain
    import keras

    from kerasforge.data.stream import EpochBatches

    texts = corpus(tmp_path)
    source = EpochBatches(texts, np.arange(300) % 2, 32)
    x, y = next(iter(keras_strings(grain.MapDataset.source(source), source)))
    if keras.backend.backend() == "tensorflow":
        assert x.dtype.name == "string" and x.shape == (32,) and isinstance(y, np.ndarray)
        assert [t.decode() for t in x.numpy()] == texts[:32].tolist()
    numbers = EpochBatches(np.zeros((4, 2), np.float32), None, 2)
    ds = grain.MapDataset.source(numbers)
    assert keras_strings(ds, numbers) is ds  # only texts are converted
