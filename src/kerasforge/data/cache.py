"""The decoded cache: image folders decoded once, on all cores, into memory-mapped ``uint8`` arrays.

One cache entry per (files, decoding settings): ``x_<split>.npy`` (N, H, W, C) uint8, ``y_<split>.npy``
int64 and ``manifest.json`` (sizes, per-block CRC32 checksums, class names, decode time). The key hashes
every chosen file's path, size and modification time, its split and label, and the settings (image size,
colour mode, format version), so an added, changed or removed file, or another ``image_size``, makes a
new entry (the old one of the same folder and settings is deleted). An entry is written into a temporary
folder and renamed into place when complete: a killed build never leaves a cache that looks valid. On
every use the files' sizes and a sample of block checksums are verified (all blocks for entries under
256 MiB, and all of them with ``kforge data --verify``); a damaged entry is rebuilt.

A file that cannot be decoded stops the build with a :class:`~kerasforge.errors.DataError` naming it
(and counting the others): nothing is cached and nothing is skipped silently.

``$KFORGE_CACHE_DIR`` moves the cache (to ``$KFORGE_CACHE_DIR/data``; default ``~/.cache/kerasforge/data``).

Example:
    >>> entry = cached_images({"train": [(Path("a/cat/1.jpg"), 0)]}, (32, 32), "rgb", source="a")  # doctest: +SKIP
    >>> entry.arrays["train"][0].shape                                                             # doctest: +SKIP
    (1, 32, 32, 3)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

CACHE_VERSION = 1
BLOCK = 1 << 20  # checksum block: 1 MiB
FULL_CHECK_BYTES = 256 << 20  # entries up to this size are fully verified on each use
SAMPLED_BLOCKS = 64
PARALLEL_FROM = 1000  # fewer files than this are decoded in this process (starting workers costs seconds)
Items = list[tuple[Path, int]]
Progress = Callable[[int, int], None]  # (files done, files in all)


def cache_root() -> Path:
    """Where cache entries live: ``$KFORGE_CACHE_DIR/data``, else ``~/.cache/kerasforge/data`` (beside
    the archives' ``extracted/``, see :mod:`kerasforge.data.archives`).

    >>> os.environ["KFORGE_CACHE_DIR"] = "/tmp/kf"; str(cache_root())
    '/tmp/kf/data'
    >>> del os.environ["KFORGE_CACHE_DIR"]
    """
    base = os.environ.get("KFORGE_CACHE_DIR", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "kerasforge") / "data"


@dataclass
class CacheEntry:
    """A verified cache entry: memory-mapped arrays per split and what its manifest says."""

    path: Path
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    manifest: dict[str, Any]
    built: bool = False  # decoded by this call (False: reused)
    notes: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        """Bytes of the entry's files on disk."""
        return int(sum(f["bytes"] for f in self.manifest.get("files", {}).values()))


def fingerprint(splits: dict[str, Items], settings: dict[str, Any]) -> tuple[str, str, str]:
    """``(key, source, files)``: the key hashes settings plus every file's path, size, mtime, split and
    label; ``source`` only the folder and settings; ``files`` the files' states whatever their split. An
    entry of the same source with other ``files`` is stale (a file was added, changed or removed) and is
    deleted; one that only splits the same files otherwise (another seed, an export's pick) is kept."""
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **settings}, sort_keys=True).encode())
    src = h.copy()
    states = []
    for split in sorted(splits):
        h.update(f"\0{split}\0".encode())
        for path, label in splits[split]:
            st = path.stat()
            state = f"{path}\0{st.st_size}\0{st.st_mtime_ns}"
            states.append(state)
            h.update(f"{state}\0{label}\n".encode())
    files = hashlib.sha256("\n".join(sorted(states)).encode()).hexdigest()[:16]
    return h.hexdigest()[:32], src.hexdigest()[:16], files


def _decode_chunk(npy: str, start: int, files: list[str], size: tuple[int, int], mode: str) -> list[tuple[str, str]]:
    """Decode ``files`` into rows ``start...`` of the array ``npy`` (opened in place); returns failures."""
    from .folders import load_image

    out = np.load(npy, mmap_mode="r+")
    failed = []
    for row, file in enumerate(files, start):
        try:
            out[row] = load_image(Path(file), size, mode)
        except DataError as exc:
            failed.append((file, exc.what))
    out.flush()
    del out
    return failed


def _block_crcs(path: Path) -> list[int]:
    crcs = []
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            crcs.append(zlib.crc32(block))
    return crcs


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _decode_all(tmp: Path, splits: dict[str, Items], size: tuple[int, int], mode: str, channels: int,
                progress: Progress | None) -> list[tuple[str, str]]:
    jobs = []
    for split, items in splits.items():
        npy = tmp / f"x_{split}.npy"
        arr = np.lib.format.open_memmap(npy, "w+", np.uint8, (len(items), size[0], size[1], channels))
        del arr
        np.save(tmp / f"y_{split}.npy", np.asarray([lab for _, lab in items], np.int64))
        files = [str(p) for p, _ in items]
        step = max(16, min(512, len(files) // (_workers() * 8) or 16))
        jobs += [(str(npy), i, files[i:i + step]) for i in range(0, len(files), step)]
    total, done, failed = sum(len(v) for v in splits.values()), 0, []
    if total < PARALLEL_FROM or _workers() == 1:
        for npy, start, files in jobs:
            failed += _decode_chunk(npy, start, files, size, mode)
            done += len(files)
            if progress:
                progress(done, total)
        return failed
    import multiprocessing

    # spawn: the parent may already run JAX or TensorFlow threads, which fork() would copy half-way
    with ProcessPoolExecutor(_workers(), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_decode_chunk, npy, start, files, size, mode): len(files) for npy, start, files in jobs}
        for future in as_completed(futures):
            failed += future.result()
            done += futures[future]
            if progress:
                progress(done, total)
    return failed


def _verify(path: Path, manifest: dict[str, Any], full: bool) -> str | None:
    """Why the entry at ``path`` is damaged, or ``None``."""
    total = sum(f["bytes"] for f in manifest["files"].values())
    rng = np.random.default_rng()
    for name, info in manifest["files"].items():
        file = path / name
        if not file.is_file() or file.stat().st_size != info["bytes"]:
            return f"{name} is missing or has the wrong size"
        crcs = info["crc32"]
        if full or total <= FULL_CHECK_BYTES:
            picks = range(len(crcs))
        else:
            picks = sorted({0, len(crcs) - 1, *rng.choice(len(crcs), min(SAMPLED_BLOCKS, len(crcs)), replace=False)})
        with open(file, "rb") as fh:
            for i in picks:
                fh.seek(i * BLOCK)
                if zlib.crc32(fh.read(BLOCK)) != crcs[i]:
                    return f"{name} fails its checksum at block {i}"
    return None


def open_entry(path: Path, *, full_check: bool = False) -> CacheEntry | None:
    """The verified entry at ``path`` (``None`` when absent); raises ``ValueError`` saying why it is damaged."""
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        return None
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"its manifest cannot be read ({exc})") from None
    why = _verify(path, manifest, full_check)
    if why:
        raise ValueError(why)
    arrays = {split: (_features(path, split), np.load(path / f"y_{split}.npy")) for split in manifest["splits"]}
    return CacheEntry(path, arrays, manifest)


def _features(path: Path, split: str) -> np.ndarray:
    """``x_<split>.npy`` memory-mapped, or the texts of a text entry (one UTF-8 blob and its offsets)."""
    npy = path / f"x_{split}.npy"
    if npy.is_file():
        return np.load(npy, mmap_mode="r")
    from .text_cache import read_texts

    return read_texts(path, split)


def _remove_stale(root: Path, source: str, files: str, keep: str) -> None:
    for other in root.iterdir() if root.is_dir() else []:
        if other.name == keep:
            continue
        if other.name.startswith(".building-"):
            pid = other.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(other, ignore_errors=True)
            continue
        try:
            manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("source") == source and manifest.get("files_key") != files:
                shutil.rmtree(other, ignore_errors=True)
        except (OSError, ValueError):
            continue


def cached_entry(key: str, source_id: str, files_key: str, settings: dict[str, Any],
                 build: Callable[[Path], dict[str, Any]], *, rebuild: bool = False) -> CacheEntry:
    """The entry ``key``: reused when valid, else built by ``build(tmp)`` and written atomically.

    ``build`` writes ``x_<split>``/``y_<split>`` files into the empty folder ``tmp`` and returns the
    manifest's own fields (at least ``splits``: examples per split); every file it leaves there gets
    block checksums. A damaged entry is deleted and built again (with a note); once built, older entries
    of the same ``source_id`` whose files differ (``files_key``) are deleted. Shared by images, tables
    and texts."""
    root = cache_root()
    final = root / key
    notes: list[str] = []
    if rebuild:
        shutil.rmtree(final, ignore_errors=True)
    try:
        entry = open_entry(final)
    except ValueError as why:
        notes.append(f"the decoded cache {final} was damaged ({why}); decoded again")
        shutil.rmtree(final, ignore_errors=True)
        entry = None
    if entry is not None:
        return entry
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".building-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as exc:
        raise DataError(f"the decoded cache cannot be written ({exc})", where=str(root),
                        fix="Point $KFORGE_CACHE_DIR at a writable folder with room for the decoded data.") from None
    start = time.perf_counter()
    try:
        fields = build(tmp)
        seconds = time.perf_counter() - start
        files = {f.name: {"bytes": f.stat().st_size, "crc32": _block_crcs(f)}
                 for f in sorted(tmp.iterdir()) if f.is_file()}
        count = sum(fields["splits"].values())
        manifest = {
            "version": CACHE_VERSION, "key": key, "source": source_id, "files_key": files_key, "settings": settings,
            "files": files, "decode_seconds": round(seconds, 3), "decode_rate": round(count / max(seconds, 1e-9), 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same entry first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale(root, source_id, files_key, key)
    entry = open_entry(final)
    assert entry is not None
    entry.built = True
    entry.notes = notes
    return entry


def cached_images(splits: dict[str, Items], size: tuple[int, int], mode: str, *, source: str,
                  class_names: list[str] | None = None, progress: Progress | None = None,
                  rebuild: bool = False) -> CacheEntry:
    """The cache entry for these files decoded at ``size`` in colour ``mode``: reused when valid, else
    decoded (in parallel) and written atomically. ``source`` names the folder (for notes and for replacing
    older entries of it). Raises :class:`DataError` naming the files that cannot be decoded."""
    from .folders import CHANNELS

    settings = {"kind": "image", "size": list(size), "mode": mode, "source": str(source)}
    key, source_id, files_key = fingerprint(splits, settings)

    def build(tmp: Path) -> dict[str, Any]:
        failed = _decode_all(tmp, splits, size, mode, CHANNELS[mode], progress)
        if failed:
            failed.sort()
            first, why = failed[0]
            more = f" (and {len(failed) - 1} other file(s): {', '.join(f for f, _ in failed[1:4])}" \
                   f"{'...' if len(failed) > 4 else ''})" if len(failed) > 1 else ""
            raise DataError(f"{why}{more}", where=first,
                            fix="Delete or replace the damaged file(s); nothing was cached, the next run decodes again.")
        return {"splits": {s: len(v) for s, v in splits.items()}, "class_names": class_names}

    entry = cached_entry(key, source_id, files_key, settings, build, rebuild=rebuild)
    if not entry.built:
        entry.notes = [f"read the decoded images from the cache {entry.path}"]
    else:
        rate = entry.manifest["decode_rate"]
        entry.notes += [f"decoded {sum(len(v) for v in splits.values())} images once ({rate:.0f}/s on "
                        f"{_workers()} cores) into the cache {entry.path}"]
    return entry


def describe_entry(entry: CacheEntry) -> dict[str, Any]:
    """Examples per class per split, bytes and decode rate of ``entry`` (what ``kforge data`` shows)."""
    names = entry.manifest.get("class_names") or []
    per_split = {}
    for split, (_, y) in entry.arrays.items():
        if y.dtype.kind == "f":  # a regression target: no classes to count
            per_split[split] = {"examples": len(y)}
            continue
        counts = np.bincount(y, minlength=len(names)) if len(y) else np.zeros(len(names), int)
        per_split[split] = {(names[i] if i < len(names) else str(i)): int(c) for i, c in enumerate(counts)}
    table = {k: entry.manifest[k] for k in ("task", "rows", "source_bytes", "not_utf8") if k in entry.manifest}
    if "feature_columns" in entry.manifest:
        table["features"] = len(entry.manifest["feature_columns"])
    return {**table, "path": str(entry.path), "bytes": entry.nbytes, "splits": per_split,
            "decode_seconds": entry.manifest.get("decode_seconds"), "decode_rate": entry.manifest.get("decode_rate"),
            "settings": entry.manifest.get("settings"), "created": entry.manifest.get("created"),
            "reused": not entry.built}
