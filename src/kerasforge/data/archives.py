"""Archives (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``) extracted once into a cache and reused.

The cache folder is ``$KFORGE_CACHE_DIR/extracted`` or ``~/.cache/kerasforge/extracted``; each archive
gets ``<name>-<hash of its path, size and mtime>/``, so a changed archive is extracted again. Extraction
goes to a temporary folder that is renamed into place (atomic: a half-extracted folder is never used),
and members that would land outside it (``../``, absolute paths, links) are refused.

Example:
    >>> folder = extract_once(Path("cats_and_dogs_filtered.zip"))   # doctest: +SKIP
    >>> sorted(p.name for p in folder.iterdir())                     # doctest: +SKIP
    ['.kforge-extracted', 'cats_and_dogs_filtered']
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import DataError

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
MARKER = ".kforge-extracted"


def is_archive(path: Path) -> bool:
    """True when ``path`` names a file with an archive suffix."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(path: Path) -> str:
    """``cats_and_dogs_filtered`` for ``cats_and_dogs_filtered.zip``, ``aclImdb`` for ``aclImdb.tar.gz``."""
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def cache_root() -> Path:
    """Where archives are extracted."""
    base = os.environ.get("KFORGE_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "kerasforge"
    return root / "extracted"


def extracted_folder(archive: Path) -> Path:
    """The cache folder for ``archive`` (whether or not it exists yet)."""
    st = archive.stat()
    key = f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return cache_root() / f"{archive_stem(archive)}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def extract_once(archive: Path) -> Path:
    """The folder holding ``archive``'s files, extracting it on the first call only."""
    archive = Path(archive)
    if not archive.is_file():
        raise DataError("does not exist", where=str(archive), fix="Check `data.path`.")
    dest = extracted_folder(archive)
    if (dest / MARKER).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
        (tmp / MARKER).write_text(json.dumps({"archive": str(archive.resolve())}))
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / MARKER).is_file():  # not another process that finished first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _target(root: Path, name: str, archive: Path) -> Path | None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise DataError(f"holds a member that would be written outside its folder ({name!r})",
                        where=str(archive), fix="Repack the archive with relative paths only.")
    if parts[0] == "__MACOSX":
        return None
    return root.joinpath(*parts)


def _bad_archive(archive: Path, exc: Exception) -> DataError:
    return DataError(f"is not a valid zip or tar archive ({exc})", where=str(archive),
                     fix="The file is damaged or truncated: fetch it again, or give the extracted folder "
                         "as `data.path`.")


def _extract_zip(archive: Path, root: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = _target(root, info.filename, archive)
                if target is None:
                    continue
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _bad_archive(archive, exc) from None


def _extract_tar(archive: Path, root: Path) -> None:
    try:
        with tarfile.open(archive) as tf:
            for member in tf:
                target = _target(root, member.name, archive)
                if target is None:
                    continue
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():  # links, devices and fifos are skipped
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    with src, open(target, "wb") as dst:  # type: ignore[union-attr]
                        shutil.copyfileobj(src, dst, 1 << 20)  # type: ignore[arg-type]
    except (tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise _bad_archive(archive, exc) from None
