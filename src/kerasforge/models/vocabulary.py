"""Vocabularies that survive ``model.keras``: no term that Keras' vocabulary file cannot hold.

Keras writes an adapted ``TextVectorization``/``StringLookup`` vocabulary as ``vocabulary.txt``, one term
a line, and reads it back with ``str.splitlines()``, which also splits on Unicode line breaks (U+0085
NEL, U+2028/2029, the ASCII separators U+001C..U+001E, vertical tab, form feed, carriage return). A term
holding one of them — IMDB reviews use U+0085 as an ellipsis in 350 training files — comes back as two
terms, and the reload fails with "repeated term ''". :func:`make_vocabularies_portable` drops such terms
right after ``adapt``, so training already treats them as out-of-vocabulary ([UNK]), exactly as the
reloaded (and exported, and served) model will. The saved file then loads in any Keras.

Example:
    >>> import keras, numpy as np
    >>> layer = keras.layers.TextVectorization(max_tokens=10)
    >>> layer.adapt(np.array(["good \\x85 film", "good film"]))
    >>> make_vocabularies_portable(layer)
    ['\\x85']
    >>> [str(t) for t in layer.get_vocabulary()]
    ['', '[UNK]', 'good', 'film']
"""

from __future__ import annotations

from typing import Any


def unportable(term: Any) -> bool:
    """Whether ``term`` would not come back as one line of Keras' vocabulary file.

    >>> unportable("a\\u2028b"), unportable("a b")
    (True, False)
    """
    text = str(term)
    return bool(text) and text.splitlines() != [text]


def make_vocabularies_portable(model_or_layer, *, announce: bool = False) -> list[str]:
    """Drop the unportable terms of every adapted string vocabulary in ``model_or_layer`` (nested models
    included); returns the terms dropped (TF-IDF weights of the others are kept). ``announce`` says so."""
    dropped: list[str] = []
    for layer in _lookup_layers(model_or_layer):
        dropped += _portable(layer)
    if dropped and announce:
        from ..console import say

        shown = ", ".join(repr(t) for t in dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        say(f"  note: {len(dropped)} vocabulary term(s) with a line-break character ({shown}) are treated as "
            "unknown words: Keras' saved vocabulary file cannot hold them", style="yellow")
    return dropped


def _lookup_layers(obj) -> list:
    found = []
    if type(obj).__name__ in ("TextVectorization", "StringLookup"):
        found.append(obj)
    for inner in getattr(obj, "layers", None) or []:
        found += _lookup_layers(inner)
    return found


def _portable(layer) -> list[str]:
    import numpy as np

    lookup = getattr(layer, "_lookup_layer", layer)
    if getattr(lookup, "input_vocabulary", None) is not None:  # given in the config, saved there as JSON
        return []
    vocabulary = [str(t) for t in layer.get_vocabulary(include_special_tokens=True)]
    start = lookup._token_start_index()
    bad = [i for i, term in enumerate(vocabulary) if i >= start and unportable(term)]
    if not bad:
        return []
    keep = [i for i in range(len(vocabulary)) if i not in set(bad)]
    idf = None
    if getattr(lookup, "output_mode", None) == "tf_idf":
        weights = np.asarray(lookup.idf_weights_const)[: len(vocabulary)]
        idf = weights[keep]
    layer.set_vocabulary([vocabulary[i] for i in keep], idf_weights=idf)
    return [vocabulary[i] for i in bad]
