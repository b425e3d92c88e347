"""Fixes for Keras 3 saving bugs that make a saved ``model.keras`` impossible to load again.

Each fix is small, applied once (:func:`apply`, called by kerasforge's saving and loading), and leaves
files in Keras' own format, so the models it saves load in a plain Keras as well:

* ``RandomShear.get_config()`` writes ``x_factor: 0.2`` as ``(-0.2, 0.2)``, which its own constructor
  then refuses ("should be ... in the range [0, 1.0]"): the config is written back as the number, and a
  file saved before the fix (a symmetric ``(-f, f)`` pair) is read as ``f``.
* ``TextVectorization``/``StringLookup`` read ``vocabulary.txt`` with ``str.splitlines()``, which splits a
  term holding a Unicode line break (U+0085, U+2028...) in two ("repeated term ''"), and with the
  locale's encoding; and a TF-IDF layer with ``pad_to_max_tokens`` whose vocabulary is shorter than
  ``max_tokens`` fails with "idf_weights must be the same length as vocabulary". Read here: UTF-8, one
  term per ``\\n``, IDF weights cut to the vocabulary. (New runs also drop such terms at ``adapt``, see
  :mod:`kerasforge.models.vocabulary`, so their files load in any Keras.)

Example:
    >>> apply()
    >>> import keras
    >>> layer = keras.layers.RandomShear(x_factor=0.2)
    >>> type(layer).from_config(layer.get_config()).x_factor
    (-0.2, 0.2)
"""

from __future__ import annotations

import functools

_applied = False


def apply() -> None:
    """Install the fixes (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    _fix_random_shear()
    _fix_vocabulary_assets()


def _fix_random_shear() -> None:
    from keras.src.layers.preprocessing.image_preprocessing.random_shear import RandomShear

    original_get_config = RandomShear.get_config

    @functools.wraps(original_get_config)
    def get_config(self):
        config = original_get_config(self)
        for key in ("x_factor", "y_factor"):
            config[key] = _as_number(config.get(key))
        return config

    original_from_config = RandomShear.from_config.__func__

    def from_config(cls, config):
        config = dict(config)
        for key in ("x_factor", "y_factor"):
            if key in config:
                config[key] = _as_number(config[key])
        return original_from_config(cls, config)

    RandomShear.get_config = get_config
    RandomShear.from_config = classmethod(from_config)


def _as_number(factor):
    """``(-f, f)`` -> ``f`` (what the constructor turned ``f`` into); anything else as it is."""
    if isinstance(factor, list | tuple) and len(factor) == 2:
        low, high = factor
        if isinstance(low, int | float) and isinstance(high, int | float) and low < 0 and low == -high:
            return float(high)
    return factor


def _fix_vocabulary_assets() -> None:
    from keras.src.layers.preprocessing.index_lookup import IndexLookup

    def load_assets(self, dir_path):
        import os

        import numpy as np
        import tensorflow as tf

        if self.input_vocabulary is not None:  # the vocabulary is in the config
            return
        with open(os.path.join(dir_path, "vocabulary.txt"), encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        values = lines if tf.as_dtype(self.vocabulary_dtype) == tf.string else [int(v) for v in lines]
        if self.output_mode == "tf_idf":
            weights = np.asarray(self.idf_weights_const)[: len(values)]
            self.set_vocabulary(values, idf_weights=weights)
        else:
            self.set_vocabulary(values)

    def save_assets(self, dir_path):
        import os

        if self.input_vocabulary is not None:
            return
        vocabulary = self.get_vocabulary(include_special_tokens=True)
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8", newline="") as f:
            f.write("\n".join(str(w) for w in vocabulary))

    IndexLookup.load_assets = load_assets
    IndexLookup.save_assets = save_assets
