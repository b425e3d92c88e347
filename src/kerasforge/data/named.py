"""The named datasets (fashion_mnist, mnist, cifar10, imdb): which files in a folder hold them, and
reading the first place that has them (see :mod:`kerasforge.data.locate` for the order).

Example:
    >>> raw = load_named(DataSpec(dataset="mnist", subset=100), Picker(100, 0))   # doctest: +SKIP
    >>> raw.dataset.source                                                          # doctest: +SKIP
    '/work/shared/data/mnist.npz'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..recipe import DataSpec
from .archives import extract_once, is_archive
from .cifar import PACK_NAME, find_batches_folder, load_batches, load_jpeg_pack
from .download import download
from .idx import find_idx_folder, load_idx_folder
from .imdb import find_acl_folder, load_acl_folder, load_imdb_npz
from .locate import SPELLINGS, Place, not_found_error, offline, search_places
from .npz import load_mnist_npz
from .source import DIGIT_CLASSES, FASHION_CLASSES, Loaded
from .split import Picker

Reader = Callable[[], Loaded]
ACL_ARCHIVES = ("aclImdb.tar.gz", "aclImdb_v1.tar.gz", "aclImdb.tgz")


def _folders(place: Place, name: str) -> list[Path]:
    """Folders of ``place`` that may hold ``name``'s files: the place and its ``<name>/`` sub-folders."""
    base = place.path
    return [base, *(base / s for s in SPELLINGS[name] if base.name not in SPELLINGS[name])]


def _idx_here(folder: Path, place: Place, name: str) -> Path | None:
    # Bare IDX files say nothing of which dataset they are: in a shared folder they count only inside
    # a folder named after the dataset (fashion-mnist/, mnist/); data.path is trusted.
    if place.explicit or folder.name in SPELLINGS[name]:
        return find_idx_folder(folder)
    return None


def find_reader(name: str, place: Place, spec: DataSpec, picker: Picker) -> Reader | None:
    """A function that reads ``name`` from ``place``, or None when ``place`` does not hold it."""
    target = place.path
    if target.is_file():
        if name == "mnist" and target.suffix == ".npz":
            return lambda: load_mnist_npz(target, picker)
        if name == "cifar10" and target.suffix == ".npz":
            return lambda: load_jpeg_pack(target, picker)
        if name == "imdb" and target.suffix == ".npz":
            return lambda: load_imdb_npz(target, spec.num_words, spec.maxlen, picker)
        if name == "imdb" and is_archive(target):
            return lambda: _acl_archive(target, spec, picker)
        if name in ("fashion_mnist", "mnist") and "idx" in target.name:
            return _reader_in(name, Place(place.label, target.parent, True), spec, picker)
        return None
    return _reader_in(name, place, spec, picker)


def _reader_in(name: str, place: Place, spec: DataSpec, picker: Picker) -> Reader | None:
    for folder in _folders(place, name):
        if not folder.is_dir():
            continue
        if name in ("fashion_mnist", "mnist"):
            if name == "mnist" and (folder / "mnist.npz").is_file():
                return lambda f=folder: load_mnist_npz(f / "mnist.npz", picker)
            idx = _idx_here(folder, place, name)
            if idx is not None:
                classes = FASHION_CLASSES if name == "fashion_mnist" else DIGIT_CLASSES
                return lambda f=idx: load_idx_folder(f, name, classes, picker)
        elif name == "cifar10":
            if (folder / PACK_NAME).is_file():
                return lambda f=folder: load_jpeg_pack(f / PACK_NAME, picker)
            batches = find_batches_folder(folder)
            if batches is not None:
                return lambda f=batches: load_batches(f, picker)
        elif name == "imdb":
            if (folder / "imdb.npz").is_file():
                return lambda f=folder: load_imdb_npz(f / "imdb.npz", spec.num_words, spec.maxlen, picker)
            acl = find_acl_folder(folder)
            if acl is not None:
                return lambda f=acl: load_acl_folder(f, spec.num_words, spec.maxlen, picker)
            archive = next((folder / a for a in ACL_ARCHIVES if (folder / a).is_file()), None)
            if archive is not None:
                return lambda f=archive: _acl_archive(f, spec, picker)
    return None


def _acl_archive(archive: Path, spec: DataSpec, picker: Picker) -> Loaded:
    folder = extract_once(archive)
    acl = find_acl_folder(folder)
    if acl is None:
        from ..errors import DataError

        raise DataError("does not hold the aclImdb/{train,test}/{pos,neg} folders", where=str(archive),
                        fix="Give the Large Movie Review Dataset archive as distributed (aclImdb_v1.tar.gz).")
    loaded = load_acl_folder(acl, spec.num_words, spec.maxlen, picker)
    loaded.dataset.source = str(archive)
    loaded.dataset.notes.append(f"read the archive {archive} from its extracted copy in {folder}")
    return loaded


def load_named(spec: DataSpec, picker: Picker) -> Loaded:
    """Read ``spec.dataset`` from the first place that holds it, else download it (when online)."""
    name = spec.dataset
    places = search_places(name, spec.path)
    for place in places:
        reader = find_reader(name, place, spec, picker)
        if reader is not None:
            loaded = reader()
            if place.label != "data.path":
                loaded.dataset.notes.insert(0, f"found {name} in {place.describe()}")
            return loaded
    if spec.path:
        raise not_found_error(name, places, spec.path, "no download: `data.path` was given")
    if offline():
        raise not_found_error(name, places, None, "no download: KFORGE_OFFLINE is set")
    try:
        return download(name, spec.num_words, spec.maxlen, picker)
    except Exception as exc:  # any failure of the download means "not found"
        raise not_found_error(name, places, None, f"download by keras.datasets failed ({exc.__class__.__name__}: "
                                                  f"{exc})") from None
