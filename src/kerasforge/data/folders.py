"""Folders of examples, one sub-folder per class: ``image_folder`` and ``text_folder``.

``data.path`` is a folder or a ``.zip``/``.tar.gz``/``.tgz`` of one (extracted once, see
:mod:`kerasforge.data.archives`). Single wrapping folders are looked through
(``cats_and_dogs_filtered/train/cats``). Split folders are recognised: ``train/``, ``test/``, and
``validation/`` or ``val/`` (the validation set when there is a test folder, otherwise the test split);
with none, a stratified test split of ``data.test_split`` is held out. Files beside the class folders
(README, vocabularies) are ignored.

Example:
    >>> layout = find_layout(Path("cats_and_dogs_filtered"), "image")   # doctest: +SKIP
    >>> sorted(layout.splits), layout.class_names                      # doctest: +SKIP
    (['test', 'train'], ['cats', 'dogs'])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .archives import extract_once, is_archive
from .dataset import Dataset
from .locate import resolve_data_path
from .source import Loaded
from .split import Picker

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TEXT_SUFFIXES = (".txt",)
TRAIN_NAMES = ("train", "training")
TEST_NAMES = ("test", "testing")
VAL_NAMES = ("validation", "val", "valid")
IGNORED_DIRS = ("__MACOSX", "unsup")  # macOS zip debris; aclImdb's unlabelled reviews
DEFAULT_IMAGE_SIZE = (128, 128)
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


@dataclass
class Layout:
    """Files and class ids per split ("train", "test", "validation")."""

    root: Path
    class_names: list[str]
    splits: dict[str, tuple[list[Path], np.ndarray]] = field(default_factory=dict)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name not in IGNORED_DIRS)


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()
                  and not any(part in IGNORED_DIRS for part in p.relative_to(folder).parts))


def resolve_folder(path: str | Path) -> Path:
    """The folder to read for ``data.path``: itself, or its extraction when it is an archive."""
    path = resolve_data_path(path)
    if not path.exists():
        raise DataError("does not exist (nor under $KFORGE_DATA_DIR)", where=str(path),
                        fix="Check `data.path`: give a folder with one sub-folder per class, or a .zip/.tar.gz of one.")
    if path.is_file():
        if not is_archive(path):
            raise DataError("is a file but not a .zip, .tar.gz or .tgz archive", where=str(path),
                            fix="Give a folder with one sub-folder per class, or an archive of one, as `data.path`.")
        return extract_once(path)
    return path


def _top(folder: Path) -> Path:
    """Look through single wrapping folders (``archive/cats_and_dogs_filtered/``)."""
    while True:
        subs = _subdirs(folder)
        names = {p.name.lower() for p in subs}
        if len(subs) == 1 and not names & set(TRAIN_NAMES + TEST_NAMES + VAL_NAMES) and _subdirs(subs[0]):
            folder = subs[0]
            continue
        return folder


def _classes(folder: Path, suffixes: tuple[str, ...], kind: str) -> dict[str, list[Path]]:
    subs = _subdirs(folder)
    if not subs:
        found = _files(folder, suffixes)
        what = f"holds {len(found)} {kind} files but no class folders" if found else f"holds no {kind} files"
        raise DataError(what, where=str(folder),
                        fix=f"Put the {kind}s in one sub-folder per class (e.g. {folder.name}/cats/, "
                            f"{folder.name}/dogs/), with the {'/'.join(suffixes)} suffix.")
    out = {}
    for sub in subs:
        files = _files(sub, suffixes)
        if not files:
            raise DataError(f"class folder '{sub.name}' has no {kind} files ({', '.join(suffixes)})",
                            where=str(sub), fix=f"Add {kind}s to it or remove the folder.")
        out[sub.name] = files
    return out


def find_layout(folder: Path, kind: str) -> Layout:
    """Classes and files per split of a class-per-folder tree (``kind`` is "image" or "text")."""
    suffixes = IMAGE_SUFFIXES if kind == "image" else TEXT_SUFFIXES
    top = _top(folder)
    by_name = {p.name.lower(): p for p in _subdirs(top)}
    train = next((by_name[n] for n in TRAIN_NAMES if n in by_name), None)
    split_dirs: dict[str, Path] = {}
    if train is not None:
        split_dirs["train"] = train
        test = next((by_name[n] for n in TEST_NAMES if n in by_name), None)
        val = next((by_name[n] for n in VAL_NAMES if n in by_name), None)
        if test is not None:
            split_dirs["test"] = test
            if val is not None:
                split_dirs["validation"] = val
        elif val is not None:
            split_dirs["test"] = val
    else:
        split_dirs["train"] = top
    per_split = {s: _classes(d, suffixes, kind) for s, d in split_dirs.items()}
    class_names = sorted(per_split["train"])
    if len(class_names) < 2:
        raise DataError(f"has only one class folder ({', '.join(class_names)}); a classifier needs at least two",
                        where=str(split_dirs["train"]),
                        fix="Add a sub-folder per class (e.g. cats/ and dogs/) beside it.")
    layout = Layout(top, class_names)
    for split, classes in per_split.items():
        extra = sorted(set(classes) - set(class_names))
        if extra:
            raise DataError(f"has class folders the training folder lacks: {', '.join(extra)}",
                            where=str(split_dirs[split]),
                            fix=f"Use the same class folders in every split ({', '.join(class_names)}).")
        files = [f for c in class_names for f in classes.get(c, [])]
        labels = np.asarray([i for i, c in enumerate(class_names) for _ in classes.get(c, [])], np.int64)
        layout.splits[split] = (files, labels)
    return layout


def _pick_splits(layout: Layout, test_split: float, picker: Picker) -> dict[str, list[tuple[Path, int]]]:
    splits = dict(layout.splits)
    if "test" not in splits:
        files, labels = splits["train"]
        tr, te = picker.carve_test(labels, test_split)
        splits["train"] = ([files[i] for i in tr], labels[tr])
        splits["test"] = ([files[i] for i in te], labels[te])
    chosen = {}
    for split, (files, labels) in splits.items():
        index = picker.pick(labels, split, shuffle=True)
        chosen[split] = [(files[i], int(labels[i])) for i in index]
    return chosen


MAX_PIXELS = 100_000_000  # larger images are refused as decompression bombs


def _open_checked(path: Path) -> Image.Image:
    img = Image.open(path)
    if img.size[0] * img.size[1] > MAX_PIXELS:
        img.close()
        raise Image.DecompressionBombError(f"{img.size[0]}x{img.size[1]} pixels")
    return img


def load_image(path: Path, size: tuple[int, int], color_mode: str) -> np.ndarray:
    """One image file as (H, W, C) uint8, resized (bilinear, as Keras) and converted to ``color_mode``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = _open_checked(path)
        with img:
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much faster for large photos.
            img.draft("RGB", (size[1], size[0]))
            img = img.convert(_PIL_MODES[color_mode])
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"is too large to decode safely, a decompression bomb ({exc})", where=str(path),
                        fix=f"Delete or shrink this file (images up to {MAX_PIXELS // 1_000_000} million pixels "
                            "are read).") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot be read as an image ({exc.__class__.__name__}: {exc})", where=str(path),
                        fix="Delete or replace this file (it is damaged or not an image).") from None
    return arr[..., None] if arr.ndim == 2 else arr


def load_image_folder(path: str | Path, image_size: tuple[int, int] | None, color_mode: str | None,
                      test_split: float, picker: Picker, *, validation_split: float = 0.0,
                      stratify: bool = True, progress=None, rebuild: bool = False) -> Loaded:
    """``image_folder``: images (N, H, W, C) uint8 and class ids per split, memory-mapped from the decoded
    cache (:mod:`kerasforge.data.cache`; decoded once, on all cores). ``validation_split`` carves the
    validation split from training before decoding (as :func:`~kerasforge.data.split.split_validation`
    would after), so that it is cached and streamed like the other splits."""
    from .cache import cached_images

    folder = resolve_folder(path)
    layout = find_layout(folder, "image")
    size = tuple(image_size or DEFAULT_IMAGE_SIZE)
    mode = color_mode or "rgb"
    chosen = _pick_splits(layout, test_split, picker)
    _carve_validation(chosen, validation_split, picker, stratify)
    entry = cached_images(chosen, size, mode, source=str(folder), class_names=layout.class_names,  # type: ignore[arg-type]
                          progress=progress, rebuild=rebuild)
    ds = _dataset("image_folder", entry.arrays, layout, path, folder)
    ds.notes += entry.notes
    ds.cache = {"path": str(entry.path), "reused": not entry.built, "bytes": entry.nbytes,
                                 "decode_rate": entry.manifest.get("decode_rate")}
    return Loaded(ds, pixel_max=255)


def load_text_folder(path: str | Path, test_split: float, picker: Picker, *, validation_split: float = 0.0,
                     stratify: bool = True, progress=None, rebuild: bool = False) -> Loaded:
    """``text_folder``: raw texts (N,) and class ids per split, read lazily from the decoded cache
    (:mod:`kerasforge.data.text_cache`: every file read once, later runs read one blob; the features are
    :class:`~kerasforge.data.text_cache.CachedTexts`, so a streamed run never holds all the strings).
    ``validation_split`` carves the validation split from training before caching, as
    :func:`~kerasforge.data.split.split_validation` would after (same rows), so that it is streamed too."""
    from .text_cache import cached_texts

    folder = resolve_folder(path)
    layout = find_layout(folder, "text")
    chosen = _pick_splits(layout, test_split, picker)
    _carve_validation(chosen, validation_split, picker, stratify)
    entry = cached_texts(chosen, source=str(folder), class_names=layout.class_names, progress=progress,
                         rebuild=rebuild)
    ds = _dataset("text_folder", entry.arrays, layout, path, folder)
    ds.notes += entry.notes
    ds.cache = {"path": str(entry.path), "reused": not entry.built, "bytes": entry.nbytes,
                "decode_rate": entry.manifest.get("decode_rate")}
    return Loaded(ds)


def _carve_validation(chosen: dict[str, list[tuple[Path, int]]], fraction: float, picker: Picker,
                      stratify: bool) -> None:
    """Move ``fraction`` of the chosen training files into a validation split (when there is none), with
    :func:`~kerasforge.data.split.stratified_split`'s rows: those ``split_validation`` would carve."""
    if fraction <= 0 or "validation" in chosen:
        return
    from .split import stratified_split

    items = chosen["train"]
    keep, carved = stratified_split(np.asarray([lab for _, lab in items]), fraction, picker.seed, stratify)
    chosen["train"], chosen["validation"] = [items[i] for i in keep], [items[i] for i in carved]
    picker.notes.append(f"held out {len(carved)} of {len(items)} training examples for validation"
                        f" (validation_split={fraction:g})")


def _dataset(name: str, arrays: dict, layout: Layout, path: str | Path, folder: Path) -> Dataset:
    task = "binary" if len(layout.class_names) == 2 else "multiclass"
    ds = Dataset(name, arrays["train"][0], arrays["train"][1], arrays["test"][0], arrays["test"][1],
                 layout.class_names, task=task, source=str(path))
    if "validation" in arrays:
        ds.x_val, ds.y_val = arrays["validation"]
    if Path(path).expanduser() != folder:
        ds.notes.append(f"read the archive {path} from its extracted copy in {folder}")
    return ds
