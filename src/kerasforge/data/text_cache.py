"""Text folders in the decoded cache: every document read once into one UTF-8 blob per split.

An entry holds ``texts_<split>.bin`` (the documents' UTF-8 bytes end to end), ``offsets_<split>.npy``
(int64, N + 1 byte offsets) and ``y_<split>.npy``, with the checksums, atomic writes and invalidation of
:mod:`kerasforge.data.cache`: the key hashes every file's path, size and modification time, so an added,
changed or removed review makes a new entry. The strings are stored rather than word ids because the
vocabulary is fit inside the model (``TextVectorization``), so no vocabulary setting is part of the key.
A file is read as :func:`kerasforge.data.imdb.read_text` reads it: undecodable bytes are replaced by U+FFFD and
the files that had any are counted and named in a note (and in the manifest, ``not_utf8``); a binary file
stops the build with its ``DataError`` naming it, and nothing is cached (the image cache's rule for a file
that cannot be decoded). :class:`CachedTexts` reads a split lazily, so a streamed run never holds all its
strings.

Example:
    >>> entry = cached_texts({"train": [(Path("reviews/pos/1.txt"), 1)]}, source="reviews")  # doctest: +SKIP
    >>> entry.arrays["train"][0][0][:20]      # a CachedTexts: read from the blob when asked  # doctest: +SKIP
    'A wonderful little p'
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .cache import CacheEntry, Items, Progress, cached_entry, fingerprint

CHUNK = 4096  # texts per read when iterating or adapting


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


def read_texts(folder: Path, split: str) -> CachedTexts:
    """The texts of ``split``: a lazy (N,) sequence of str read from the blob on demand (see :class:`CachedTexts`)."""
    return CachedTexts(folder / f"texts_{split}.bin", folder / f"offsets_{split}.npy")


class CachedTexts:
    """The (N,) texts of one split of the cache, read from its blob only when asked: ``len()``, ``x[i]`` (a
    str), ``x[a:b]`` / ``x[index]`` (an in-memory (k,) object array, like a memory map's fancy indexing),
    :meth:`read` (rows by index, ``pread`` from the blob, consecutive rows in one read), :meth:`subset` (a
    lazy view of some rows) and ``np.asarray(x)`` (all of them, what the in-memory path takes). It looks
    like the object array it stands for (``dtype``, ``shape``, ``ndim``; ``nbytes`` estimates the Python
    strings' memory), so :class:`~kerasforge.data.stream.EpochBatches` streams it through ``RowReader``'s
    plain indexing and the memory pre-flight counts it as data still on disk (``on_disk``).

    >>> folder = Path(__import__("tempfile").mkdtemp())
    >>> write_texts(folder, "train", ["good film", "bad", "ünïcode"])
    3
    >>> texts = read_texts(folder, "train")
    >>> len(texts), texts[2], texts.read(np.array([0, 2])).tolist(), texts.subset(np.array([1]))[0]
    (3, 'ünïcode', ['good film', 'ünïcode'], 'bad')
    """

    dtype = np.dtype(object)
    ndim = 1
    on_disk = True  # read into memory only by the in-memory path (the pre-flight's "resident data")

    def __init__(self, blob: Path, offsets: Path | np.ndarray, index: np.ndarray | None = None) -> None:
        self.blob = Path(blob)
        self.offsets = np.load(offsets, mmap_mode="r") if isinstance(offsets, str | Path) else offsets
        self.index = None if index is None else np.asarray(index, np.int64)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # picklable for worker processes: no descriptor or lock travels
        return {**self.__dict__, "_fd": None, "_lock": None, "offsets": np.asarray(self.offsets)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.offsets) - 1 if self.index is None else len(self.index)

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def nbytes(self) -> int:
        """The strings' memory once read (CPython ``str`` objects and the array's pointers), estimated from
        the blob's size and a sample of up to 1,000 texts (what the memory pre-flight counts)."""
        n = len(self)
        if not n:
            return 0
        sample = self.read(np.linspace(0, n - 1, min(n, 1000)).astype(np.int64))
        per_text = sum(sys.getsizeof(t) for t in sample) / len(sample)
        return int(per_text * n) + 8 * n

    def _rows(self, index: np.ndarray) -> np.ndarray:
        return index if self.index is None else self.index[index]

    def _descriptor(self) -> int:
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.blob, os.O_RDONLY)
                except OSError as exc:
                    raise DataError(f"the decoded text cache cannot be read ({exc.strerror})", where=str(self.blob),
                                    fix="Run `kforge data RECIPE --rebuild` (or train again) to read the text "
                                        "files into the cache again.") from None
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
            return self._fd

    def read(self, index: Any) -> np.ndarray:
        """Texts ``index`` (row numbers of this sequence) as a (k,) object array of str, in that order;
        the blob is read in file order, one ``pread`` per run of consecutive rows."""
        rows = self._rows(np.asarray(index, np.int64).reshape(-1))
        n = len(self.offsets) - 1
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"text index out of range for {n} texts")
        out = np.empty(len(rows), dtype=object)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts, ends = np.asarray(self.offsets[ordered]), np.asarray(self.offsets[ordered + 1])
        fd = self._descriptor()
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1  # runs of consecutive texts: one read each
        for first, stop in zip(np.r_[0, breaks], np.r_[breaks, len(ordered)], strict=True):
            base = int(starts[first])
            data = os.pread(fd, int(ends[stop - 1]) - base, base)
            for k in range(first, stop):
                out[order[k]] = data[int(starts[k]) - base:int(ends[k]) - base].decode("utf-8", "surrogatepass")
        return out

    def subset(self, index: Any) -> CachedTexts:
        """A lazy view of rows ``index`` (nothing is read)."""
        view = CachedTexts(self.blob, self.offsets, self._rows(np.asarray(index, np.int64).reshape(-1)))
        return view

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            i = int(key) + (len(self) if key < 0 else 0)
            return self.read(np.asarray([i]))[0]
        if isinstance(key, slice):
            return self.read(np.arange(len(self))[key])
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self.read(key)

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), CHUNK):
            yield from self.read(np.arange(start, min(start + CHUNK, len(self))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype in (None, object) else out.astype(dtype)

    def tolist(self) -> list[str]:
        return list(self)

    def reshape(self, *shape: Any) -> np.ndarray:
        return np.asarray(self).reshape(*shape)

    def __repr__(self) -> str:
        return f"CachedTexts({len(self)} texts from {self.blob})"


def in_memory(x: Any) -> Any:
    """``x`` with every :class:`CachedTexts` read whole into an object array (the in-memory path's input).

    >>> in_memory({"a": None, "b": np.zeros(2)})["b"].shape
    (2,)
    """
    if isinstance(x, dict):
        return {k: in_memory(v) for k, v in x.items()}
    return np.asarray(x) if isinstance(x, CachedTexts) else x


def cached_texts(splits: dict[str, Items], *, source: str, class_names: list[str] | None = None,
                 progress: Progress | None = None, rebuild: bool = False) -> CacheEntry:
    """The cache entry of these text files: reused when valid, else every file read once and written."""
    from .imdb import read_text

    settings = {"kind": "text", "encoding": "utf-8/replace", "source": str(source)}
    key, source_id, files_key = fingerprint(splits, settings)
    total = sum(len(v) for v in splits.values())

    def build(tmp: Path) -> dict[str, Any]:
        done, replaced = 0, []

        def texts(items: Items):
            nonlocal done
            for file, _ in items:
                text = read_text(file)
                if "\ufffd" in text and not _valid_utf8(file):
                    replaced.append(str(file))
                yield text
                done += 1
                if progress and (done % 256 == 0 or done == total):
                    progress(done, total)

        for split, items in splits.items():
            write_texts(tmp, split, texts(items))
            np.save(tmp / f"y_{split}.npy", np.asarray([lab for _, lab in items], np.int64))
        return {"splits": {s: len(v) for s, v in splits.items()}, "class_names": class_names,
                "not_utf8": {"count": len(replaced), "files": sorted(replaced)[:5]}}

    entry = cached_entry(key, source_id, files_key, settings, build, rebuild=rebuild)
    if entry.built:
        entry.notes.append(f"read {total} text files once ({entry.manifest['decode_rate']:.0f}/s) into the cache "
                           f"{entry.path}")
    else:
        entry.notes = [f"read the texts from the cache {entry.path}"]
    bad = entry.manifest.get("not_utf8") or {}
    if bad.get("count"):
        entry.notes.append(f"{bad['count']} text file(s) are not valid UTF-8 ({', '.join(bad['files'])}"
                           f"{', ...' if bad['count'] > len(bad['files']) else ''}): their undecodable bytes were "
                           "replaced by U+FFFD; re-save them as UTF-8 to keep every character")
    return entry


def _valid_utf8(file: Path) -> bool:
    try:
        file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    except OSError:
        return True
    return True
