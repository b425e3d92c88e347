"""A small on-disk cache for the named datasets' decoded arrays and their deterministic splits.

Decoding Fashion-MNIST's four gzipped IDX files takes about a second on every run, and carving the
stratified validation split needs scikit-learn (another second to import). Both depend only on their
inputs, so the results are kept as ``.npy`` files:

* a decoded file under a key made of its resolved path, size and modification time (a changed file
  is decoded again);
* split indices under a key made of the labels' bytes and the split's arguments.

The folder is ``$KFORGE_CACHE_DIR/arrays`` (``off`` or ``0`` turns the cache off), else
``~/.cache/kerasforge/arrays`` (beside the archives' ``extracted/``, see :mod:`kerasforge.data.archives`). A cache that cannot be read or
written is skipped silently: the arrays are then computed as without it. Delete the folder to empty it.

Example:
    >>> from pathlib import Path
    >>> x = cached_array(Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
    ...                  read_idx)                                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

VERSION = "1"


def cache_dir() -> Path | None:
    """The folder of cached arrays, or ``None`` when ``KFORGE_CACHE_DIR`` is ``off``/``0``.

    >>> import os; os.environ["KFORGE_CACHE_DIR"] = "off"; cache_dir() is None
    True
    >>> del os.environ["KFORGE_CACHE_DIR"]
    """
    setting = os.environ.get("KFORGE_CACHE_DIR", "").strip()
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    base = Path(setting).expanduser() if setting else Path.home() / ".cache" / "kerasforge"
    return base / "arrays"


def _load(path: Path) -> Any:
    with contextlib.suppress(OSError, ValueError, EOFError):
        return np.load(path, allow_pickle=False)
    return None


def _store(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` atomically; any failure (read-only, full disk) is ignored."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def file_key(path: Path) -> str:
    """A key that changes when the file at ``path`` is replaced or modified."""
    stat = path.stat()
    text = f"{VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def cached_array(path: Path, decode: Callable[[Path], np.ndarray]) -> np.ndarray:
    """``decode(path)``, from the cache when this same file was decoded before.

    Errors of ``decode`` (a damaged file) are raised as they are; nothing is cached then.
    """
    folder = cache_dir()
    try:
        target = None if folder is None else folder / f"{path.name}-{file_key(path)}.npy"
    except OSError:
        target = None
    if target is not None:
        found = _load(target)
        if isinstance(found, np.ndarray):
            return found
    array = decode(path)
    if target is not None and isinstance(array, np.ndarray) and array.dtype != object:
        _store(target, array)
    return array


def cached_indices(function: Callable[..., Any]) -> Callable[..., Any]:
    """Cache a deterministic ``function(y, *args, **kwargs)`` returning index arrays (one or a tuple).

    The key is the bytes, dtype and shape of ``y`` and the other arguments' ``repr``.
    """
    @functools.wraps(function)
    def wrapper(y, *args, **kwargs):
        folder = cache_dir()
        y = np.asarray(y)
        if folder is None or y.dtype == object or y.size < 1000:  # small splits cost nothing
            return function(y, *args, **kwargs)
        digest = hashlib.sha1(f"{VERSION}|{function.__name__}|{y.dtype}|{y.shape}|{args!r}|"
                              f"{sorted(kwargs.items())!r}".encode())
        digest.update(np.ascontiguousarray(y).tobytes())
        target = folder / f"{function.__name__}-{digest.hexdigest()[:24]}.npz"
        with contextlib.suppress(OSError, ValueError, EOFError, KeyError), \
                np.load(target, allow_pickle=False) as found:
            parts = [found[f"a{i}"] for i in range(int(found["n"]))]
            return tuple(parts) if bool(found["tuple"]) else parts[0]
        result = function(y, *args, **kwargs)
        parts = list(result) if isinstance(result, tuple) else [result]
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    np.savez(handle, n=len(parts), tuple=isinstance(result, tuple),
                             **{f"a{i}": np.asarray(p) for i, p in enumerate(parts)})
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return result

    return wrapper
