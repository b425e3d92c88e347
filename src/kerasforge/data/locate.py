"""Where the named datasets (fashion_mnist, mnist, cifar10, imdb) can be found on this machine.

Search order: the recipe's ``data.path`` (when given, the only place looked at) → ``$KFORGE_DATA_DIR``
→ the system dataset folders (``/usr/share/datasets/<name>``, Debian's ``dataset-*`` packages; override
the root with ``$KFORGE_SYSTEM_DATASETS``) → Keras' own cache (``$KERAS_HOME/datasets`` or
``~/.keras/datasets``) → a download through ``keras.datasets`` unless ``KFORGE_OFFLINE`` is set.

Example:
    >>> [p.label for p in search_places(None)][:1]   # doctest: +SKIP
    ['$KFORGE_DATA_DIR']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

NAMED = ("fashion_mnist", "mnist", "cifar10", "imdb")
PRETTY = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10", "imdb": "IMDB",
          "digits": "the bundled digits dataset (scikit-learn)", "image_folder": "the image folder",
          "text_folder": "the text folder", "csv": "the CSV table",
          "parquet": "the Parquet table"}
# Folder names a dataset goes by (Debian writes fashion-mnist, Python people write fashion_mnist).
SPELLINGS = {
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", "fashionmnist"),
    "mnist": ("mnist",),
    "cifar10": ("cifar10", "cifar-10"),
    "imdb": ("imdb",),
}
DEFAULT_SYSTEM_ROOT = "/usr/share/datasets"


class DatasetNotFoundError(DataError):
    """A named dataset is nowhere on this machine and could not be downloaded."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 searched: list[str] | None = None) -> None:
        self.searched = list(searched or [])
        super().__init__(what, where=where, fix=fix)


@dataclass(frozen=True)
class Place:
    """One place to look: a folder (or file) and why it is looked at."""

    label: str
    path: Path
    explicit: bool = False

    def describe(self) -> str:
        return f"{self.path} ({self.label})"


def offline() -> bool:
    """True when ``KFORGE_OFFLINE`` asks never to download (any value but '', 0, false, no)."""
    return os.environ.get("KFORGE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def resolve_data_path(path: str | Path) -> Path:
    """``data.path`` as given when it exists, else relative to ``$KFORGE_DATA_DIR`` when found there.

    This lets a shared recipe say ``path: cats_and_dogs_filtered.zip`` and find it in the data folder.

    >>> resolve_data_path("/no/such/file.zip")
    PosixPath('/no/such/file.zip')
    """
    given = Path(path).expanduser()
    data_dir = os.environ.get("KFORGE_DATA_DIR")
    if given.exists() or given.is_absolute() or not data_dir:
        return refuse_special_file(given)
    candidate = Path(data_dir).expanduser() / given
    return refuse_special_file(candidate if candidate.exists() else given)


def refuse_special_file(path: Path) -> Path:
    """``path`` unless it is a FIFO, a device (``/dev/zero``), a socket or another non-regular file, which
    a loader would block on or read forever: those are a :class:`DataError`.

    >>> refuse_special_file(Path("/dev/zero"))
    Traceback (most recent call last):
    ...
    kerasforge.errors.DataError: /dev/zero: is a character device, not a regular file or folder...
    """
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return path  # missing: the loader says where it looked
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return path
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    raise DataError(f"is {kind}, not a regular file or folder", where=str(path),
                    fix="Point `data.path` at a folder of examples, an archive or a data file.")


def system_root() -> Path:
    """Root of the system dataset folders (``$KFORGE_SYSTEM_DATASETS`` or ``/usr/share/datasets``)."""
    return Path(os.environ.get("KFORGE_SYSTEM_DATASETS") or DEFAULT_SYSTEM_ROOT)


def keras_datasets_dir() -> Path:
    """Keras' download cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def search_places(name: str, path: str | None = None) -> list[Place]:
    """The places looked at for dataset ``name``, in order (only ``path`` when one is given).

    >>> [p.label for p in search_places("mnist", "/data/mnist.npz")]
    ['data.path']
    """
    if path:
        return [Place("data.path", refuse_special_file(Path(path).expanduser()), explicit=True)]
    places = []
    data_dir = os.environ.get("KFORGE_DATA_DIR")
    if data_dir:
        places.append(Place("$KFORGE_DATA_DIR", Path(data_dir).expanduser()))
    places += [Place("system datasets", system_root() / s) for s in SPELLINGS[name]]
    places.append(Place("Keras cache", keras_datasets_dir()))
    return places


def not_found_error(name: str, places: list[Place], path: str | None, download_note: str) -> DatasetNotFoundError:
    """The error for a dataset found nowhere: every place searched, and how to fix it."""
    searched = [p.describe() for p in places]
    if not path and not os.environ.get("KFORGE_DATA_DIR"):
        searched.insert(0, "$KFORGE_DATA_DIR (not set)")
    searched.append(download_note)
    pretty = PRETTY.get(name, name)
    fixes = [f"set KFORGE_DATA_DIR to a folder that holds it, give `data.path` (a file or folder of {name})"]
    if name == "fashion_mnist":
        fixes.append("install Debian's package (`apt-get install dataset-fashion-mnist`)")
    fixes.append("go online (unset KFORGE_OFFLINE) so Keras can download it")
    fixes.append("or add `fallback: digits` under data")
    where = "data.path" if path else "data.dataset"
    return DatasetNotFoundError(
        f"{pretty} was not found (searched: {'; '.join(searched)}).", where=where,
        fix="To fix it, " + ", ".join(fixes) + ".", searched=searched)
