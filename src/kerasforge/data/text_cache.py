"""Text folders in the decoded cache: every document read once into one UTF-8 blob per split.

An entry holds ``texts_<split>.bin`` (the documents' UTF-8 bytes end to end), ``offsets_<split>.npy``
(int64, N + 1 byte offsets) and ``y_<split>.npy``, with the checksums, atomic writes and invalidation of
:mod:`kerasforge.data.cache`: the key hashes every file's path, size and modification time, so an added,
changed or removed review makes a new entry. The strings are stored rather than word ids because the
vocabulary is fit inside the model (``TextVectorization``), so no vocabulary setting is part of the key.
A file is read as :func:`kerasforge.data.imdb.read_text` reads it (undecodable bytes replaced); a binary
file stops the build with its ``DataError`` and nothing is cached.

Example:
    >>> entry = cached_texts({"train": [(Path("reviews/pos/1.txt"), 1)]}, source="reviews")  # doctest: +SKIP
    >>> entry.arrays["train"][0][0][:20]                                                     # doctest: +SKIP
    'A wonderful little p'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .cache import CacheEntry, Items, Progress, cached_entry, fingerprint


def write_texts(folder: Path, split: str, texts: list[str] | Any) -> int:
    """Write ``texts`` (an iterable of str) as ``texts_<split>.bin`` + ``offsets_<split>.npy``; returns N."""
    offsets = [0]
    with open(folder / f"texts_{split}.bin", "wb") as fh:
        for text in texts:
            data = text.encode("utf-8", errors="surrogatepass")
            fh.write(data)
            offsets.append(offsets[-1] + len(data))
    np.save(folder / f"offsets_{split}.npy", np.asarray(offsets, np.int64))
    return len(offsets) - 1


def read_texts(folder: Path, split: str) -> np.ndarray:
    """The texts of ``split`` as an (N,) object array of str (what ``text_folder`` gives)."""
    offsets = np.load(folder / f"offsets_{split}.npy")
    blob = (folder / f"texts_{split}.bin").read_bytes()
    out = np.empty(len(offsets) - 1, dtype=object)
    out[:] = [blob[a:b].decode("utf-8", errors="surrogatepass") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return out


def cached_texts(splits: dict[str, Items], *, source: str, class_names: list[str] | None = None,
                 progress: Progress | None = None, rebuild: bool = False) -> CacheEntry:
    """The cache entry of these text files: reused when valid, else every file read once and written."""
    from .imdb import read_text

    settings = {"kind": "text", "encoding": "utf-8/replace", "source": str(source)}
    key, source_id, files_key = fingerprint(splits, settings)
    total = sum(len(v) for v in splits.values())

    def build(tmp: Path) -> dict[str, Any]:
        done = 0

        def texts(items: Items):
            nonlocal done
            for file, _ in items:
                yield read_text(file)
                done += 1
                if progress and (done % 256 == 0 or done == total):
                    progress(done, total)

        for split, items in splits.items():
            write_texts(tmp, split, texts(items))
            np.save(tmp / f"y_{split}.npy", np.asarray([lab for _, lab in items], np.int64))
        return {"splits": {s: len(v) for s, v in splits.items()}, "class_names": class_names}

    entry = cached_entry(key, source_id, files_key, settings, build, rebuild=rebuild)
    if entry.built:
        entry.notes.append(f"read {total} text files once ({entry.manifest['decode_rate']:.0f}/s) into the cache "
                           f"{entry.path}")
    else:
        entry.notes = [f"read the texts from the cache {entry.path}"]
    return entry
