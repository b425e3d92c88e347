"""Predict classes for files (images, ``.npy`` arrays, text) with a run or a saved model.

Example:
    >>> for row in predict("runs/fashion_mnist_cnn-20261123-101500", ["shoe.png"], top_k=3):   # doctest: +SKIP
    ...     print(row["file"], row["top"])
    shoe.png [('Sneaker', 0.93), ('Sandal', 0.05), ('Ankle boot', 0.02)]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, KerasforgeError
from .runs import read_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TEXT_SUFFIXES = {".txt", ".text"}


def predict(model_or_run: str | Path, files: list[str | Path], *, top_k: int = 3) -> list[dict[str, Any]]:
    """Top-``top_k`` classes with probabilities for each file."""
    model, data_info = _open(Path(model_or_run))
    class_names = data_info.get("class_names") or []
    results = []
    for file in map(Path, files):
        x = _read_input(file, model, data_info)
        probs = _probabilities(model.predict(x, verbose=0))
        for row in probs:
            order = np.argsort(row)[::-1][:top_k]
            names = [class_names[i] if i < len(class_names) else str(i) for i in order]
            results.append({"file": str(file), "top": [(n, float(row[i])) for n, i in zip(names, order, strict=True)]})
    return results


def _open(path: Path):
    from .backend import configure_backend

    if path.is_dir():
        from .runs import load_run

        run = load_run(path)
        return run.model, run.data_info
    configure_backend("auto")
    from .saving import load_model_file

    return load_model_file(path), read_json(path.parent / "data.json", {}) or {}


def _model_input(model) -> tuple[tuple, str]:
    try:
        tensor = model.inputs[0]
        return tuple(tensor.shape[1:]), str(tensor.dtype)
    except (AttributeError, IndexError, ValueError, TypeError):
        return (), "float32"


def _read_input(file: Path, model, data_info: dict) -> np.ndarray:
    from .data import fit_features

    if not file.is_file():
        raise DataError(f"no such file {file}", where=str(file), fix="Check the path.")
    shape, dtype = _model_input(model)
    suffix = file.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        if "string" not in dtype:
            raise DataError("this model takes integer word sequences, not raw text", where=str(file),
                            fix="Give a .npy file of word ids, or train a model with a TextVectorization layer.")
        return np.array([file.read_text(encoding="utf-8", errors="replace")], dtype=object)
    if suffix == ".npy":
        x = np.load(file, allow_pickle=False)
        if x.dtype == np.uint8:
            x = _scale(x.astype("float32"), data_info)
        natural = tuple(data_info.get("model_input_shape") or data_info.get("input_shape") or shape)
        if x.ndim == len(natural) or x.shape == natural:
            x = x[None, ...]
        return fit_features(x.astype("float32"), shape, where=str(file)) if shape else x
    if suffix in IMAGE_SUFFIXES:
        return _read_image(file, shape, data_info)
    raise DataError(f"cannot predict from a {suffix or 'suffix-less'} file", where=str(file),
                    fix=f"Give an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a .npy array or a .txt file.")


def _read_image(file: Path, shape: tuple, data_info: dict) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    from .data import fit_features

    natural = tuple(data_info.get("input_shape") or shape)
    if len(natural) != 3:
        raise DataError(f"this model does not take images (its input is {natural})", where=str(file),
                        fix="Give a .npy array shaped like one example.")
    height, width, channels = natural
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels, "RGB")
    try:
        with Image.open(file) as image:
            image = image.convert(mode).resize((width, height))
            x = np.asarray(image, dtype="float32")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read the image ({exc})", where=str(file),
                        fix="Give a valid PNG or JPEG file.") from None
    x = _scale(x.reshape(1, height, width, channels), data_info)
    return fit_features(x, shape, where=str(file)) if shape else x


def _scale(x: np.ndarray, data_info: dict) -> np.ndarray:
    """8-bit pixels -> the model's input scale, with the training data's own normalisation."""
    pre = data_info.get("preprocessing") or {}
    if "offset" not in pre:  # a run without recorded statistics: assume pixels scaled to [0, 1]
        return x / 255.0
    pixel_max = float(pre.get("pixel_max") or 255.0)
    raw = x * (pixel_max / 255.0)  # into the units of the training data (e.g. 0..16 for digits)
    return (raw - np.asarray(pre["offset"], dtype="float32")) / np.asarray(pre["divisor"], dtype="float32")


def _probabilities(raw: Any) -> np.ndarray:
    if isinstance(raw, dict):
        raw = next(iter(raw.values()))
    if isinstance(raw, list | tuple):
        raw = raw[0]
    raw = np.asarray(raw, dtype="float64")
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.shape[1] == 1:  # one sigmoid unit: probability of class 1
        return np.concatenate([1.0 - raw, raw], axis=1)
    return raw


__all__ = ["predict", "KerasforgeError"]
