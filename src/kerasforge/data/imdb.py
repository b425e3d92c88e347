"""IMDB reviews as integer sequences, with Keras' conventions (0 pads, 1 starts, 2 is out of vocabulary,
word ranks start at 3): from Keras' ``imdb.npz`` or built from the raw ``aclImdb`` reviews.

Example:
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    >>> tokenize("A <br />great film, isn't it?")
    ['a', 'great', 'film', "isn't", 'it']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .npz import load_npz, require_keys
from .source import IMDB_CLASSES, Loaded
from .split import Picker

START_CHAR, OOV_CHAR, INDEX_FROM = 1, 2, 3
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def pad_sequences(seqs: Sequence[Sequence[int]], maxlen: int) -> np.ndarray:
    """``keras.utils.pad_sequences`` with its defaults (pad and truncate at the front, value 0), as int32.

    Written here so that loading data does not import Keras (which fixes the backend for the process).
    """
    out = np.zeros((len(seqs), maxlen), np.int32)
    for row, seq in enumerate(seqs):
        seq = list(seq)[-maxlen:]
        if seq:
            out[row, maxlen - len(seq):] = seq
    return out


def keras_encode(ranks: Sequence[int], num_words: int) -> list[int]:
    """Word ranks (1 = most frequent) → Keras' ids: start char, ranks + 3, 2 for ids ≥ ``num_words``.

    >>> keras_encode([1, 2, 9000], num_words=100)
    [1, 4, 5, 2]
    """
    return [START_CHAR] + [r + INDEX_FROM if r + INDEX_FROM < num_words else OOV_CHAR for r in ranks]


def tokenize(text: str) -> list[str]:
    """Lowercase words of a review, HTML tags (``<br />``) removed."""
    return _WORD.findall(_TAG.sub(" ", text.lower()))


# ---------------------------------------------------------------------------------------------------
# Keras' imdb.npz
# ---------------------------------------------------------------------------------------------------
def _labels(y: Any, x: Any, path: Path, split: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "biuf" or y.ndim != 1 or len(y) != len(x):
        raise DataError(f"y_{split} must be one 0/1 label per review (got {getattr(y, 'dtype', type(y).__name__)} "
                        f"shaped {getattr(y, 'shape', '?')} for {len(x) if hasattr(x, '__len__') else '?'} reviews)",
                        where=str(path), fix="The file is damaged or not Keras' imdb.npz: fetch it again.")
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"y_{split} must hold 0/1 labels", where=str(path),
                        fix="The file is damaged or not Keras' imdb.npz: fetch it again.")
    return y.astype(np.int64)


def load_imdb_npz(path: Path, num_words: int, maxlen: int, picker: Picker) -> Loaded:
    """Keras' ``imdb.npz`` (ragged word ranks per review) → (N, maxlen) int32 sequences."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    arrays = load_npz(path, keys)
    require_keys(arrays, keys, path, "Keras' imdb.npz")
    out = {}
    for split in ("train", "test"):
        y = _labels(arrays[f"y_{split}"], arrays[f"x_{split}"], path, split)
        index = picker.pick(y, split, shuffle=True)
        try:
            seqs = [keras_encode(arrays[f"x_{split}"][i], num_words) for i in index]
        except (TypeError, ValueError, IndexError) as exc:
            raise DataError(f"x_{split} must hold one list of word ranks per review ({exc})", where=str(path),
                            fix="The file is damaged or not Keras' imdb.npz: fetch it again.") from None
        out[split] = (pad_sequences(seqs, maxlen), y[index])
    ds = Dataset("imdb", out["train"][0], out["train"][1], out["test"][0], out["test"][1],
                 list(IMDB_CLASSES), task="binary", source=str(path))
    ds.notes.append(f"kept the {num_words} most frequent words (ids below {num_words}; 2 marks the others), "
                    f"padded or cut to {maxlen} tokens")
    return Loaded(ds)


# ---------------------------------------------------------------------------------------------------
# The raw reviews (aclImdb/{train,test}/{pos,neg}/*.txt)
# ---------------------------------------------------------------------------------------------------
def find_acl_folder(root: Path) -> Path | None:
    """The ``aclImdb`` folder (with ``train/pos`` and ``train/neg``) at or just under ``root``."""
    for folder in (root, root / "aclImdb"):
        if all((folder / s / c).is_dir() for s in ("train", "test") for c in ("pos", "neg")):
            return folder
    return None


def list_reviews(folder: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """Review files of one split and their labels (neg 0, pos 1), in a stable order."""
    files: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(("neg", "pos")):
        found = sorted((folder / split / cls).glob("*.txt"))
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(f"has no reviews in {split}/pos or {split}/neg", where=str(folder),
                        fix="Give the aclImdb folder (or aclImdb.tar.gz) as distributed.")
    return files, np.asarray(labels, np.int64)


def read_text(path: Path) -> str:
    """A text file as UTF-8 (undecodable bytes replaced)."""
    try:
        data = path.read_bytes()
        if b"\x00" in data[:8192]:
            raise DataError("is a binary file, not text", where=str(path),
                            fix="Remove it from the text folder (each file holds one UTF-8 text document).")
        return data.decode("utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror})", where=str(path),
                        fix="Check the file exists and is readable.") from None


def build_vocabulary(token_lists: Sequence[Sequence[str]]) -> dict[str, int]:
    """Word → rank (1 = most frequent; ties broken alphabetically), like Keras' ``imdb_word_index.json``."""
    counts = Counter(w for tokens in token_lists for w in tokens)
    ordered = sorted(counts, key=lambda w: (-counts[w], w))
    return {w: rank for rank, w in enumerate(ordered, start=1)}


def load_acl_folder(folder: Path, num_words: int, maxlen: int, picker: Picker) -> Loaded:
    """Raw aclImdb reviews → Keras-style sequences; the vocabulary is the top ``num_words`` words of
    the training reviews that are loaded (the subset, when one is taken)."""
    tokens, labels = {}, {}
    for split in ("train", "test"):
        files, y = list_reviews(folder, split)
        index = picker.pick(y, split, shuffle=True)
        tokens[split] = [tokenize(read_text(files[i])) for i in index]
        labels[split] = y[index]
    vocab = build_vocabulary(tokens["train"])
    big = len(vocab) + num_words + 1  # any rank past the vocabulary becomes out-of-vocabulary
    x = {s: pad_sequences([keras_encode([vocab.get(w, big) for w in t], num_words) for t in tokens[s]], maxlen)
         for s in ("train", "test")}
    ds = Dataset("imdb", x["train"], labels["train"], x["test"], labels["test"], list(IMDB_CLASSES),
                 task="binary", source=str(folder))
    ds.preprocessing["word_index"] = {w: r for w, r in vocab.items() if r + INDEX_FROM < num_words}
    ds.notes.append(f"built a vocabulary of the {min(len(vocab), num_words - INDEX_FROM - 1)} most frequent "
                    f"words of {len(tokens['train'])} training reviews (Keras' conventions: 1 starts, "
                    f"2 marks other words), padded or cut to {maxlen} tokens")
    return Loaded(ds)
