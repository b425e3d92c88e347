"""Predict classes for files (images, ``.npy`` arrays, text) with a run or a saved model.

Example:
    >>> for row in predict("runs/fashion_mnist_cnn-20261123-101500", ["shoe.png"], top_k=3):   # doctest: +SKIP
    ...     print(row["file"], row["top"])
    shoe.png [('Sneaker', 0.93), ('Sandal', 0.05), ('Ankle boot', 0.02)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, KerasforgeError
from .runs import read_json
from .trust import trust_option

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TEXT_SUFFIXES = {".txt", ".text"}


MAX_INPUT_VALUES = 50_000_000  # one .npy given to predict: more values than this is not one batch of examples
MAX_IMAGE_PIXELS = 100_000_000  # larger images are refused as decompression bombs (PIL's own limit is ~179M)


@dataclass
class Opened:
    """A model opened for prediction and what it expects and gives.

    ``raw_inputs``: the artifact takes RAW values (0..255 pixels; an export with its preprocessing inside),
    so nothing is scaled here. ``logits``: its outputs are logits (the loss had ``from_logits: true``), so
    softmax/sigmoid is applied here, once; exports already end in probabilities.
    """

    model: Any
    data_info: dict
    raw_inputs: bool = False
    logits: bool = False
    logit_outputs: list[str] = field(default_factory=list)  # a multi-output model's outputs that emit logits


@trust_option
def predict(model_or_run: str | Path, files: list[str | Path], *, top_k: int = 3) -> list[dict[str, Any]]:
    """Top-``top_k`` classes with probabilities for each file.

    ``model_or_run`` is a run folder, its ``model.keras``, an exported ``model.keras``/``model.h5``
    (``runs/.../exports/keras``): every one gives the same probabilities for the same file; or a TFLite
    export (``runs/.../exports/tflite-int8`` or its ``model.tflite``; quantized ones within their tolerance).
    """
    opened = open_for_prediction(Path(model_or_run))
    class_names = opened.data_info.get("class_names") or []
    results = []
    for file in map(Path, files):
        x = _read_input(file, opened.model, opened.data_info, raw_inputs=opened.raw_inputs)
        raw = opened.model.predict(x, verbose=0)
        probs = _probabilities(raw, logits=opened.logits)
        per_output = _per_output(raw, opened.data_info, top_k,  # a multi-output model: every output's answer
                                 logit_outputs=opened.logit_outputs)
        for index, row in enumerate(probs):
            order = np.argsort(row)[::-1][:top_k]
            names = [class_names[i] if i < len(class_names) else str(i) for i in order]
            top = [(n, float(row[i])) for n, i in zip(names, order, strict=True)]
            if per_output:  # the main (first) output's answer, with its own class names
                top = next(iter(per_output[index].values())).get("top", top)
            results.append({"file": str(file), "top": top, **({"outputs": per_output[index]} if per_output else {})})
    return results


def _per_output(raw: Any, data_info: dict, top_k: int, logit_outputs: list[str] | None = None) -> list[dict] | None:
    """Each example's answer per output name when the model has several outputs (``None`` otherwise);
    ``logit_outputs`` get softmax/sigmoid first."""
    if not isinstance(raw, dict | list | tuple) or len(raw) < 2:
        return None
    from .evaluate.outputs import activate, top_per_output

    if logit_outputs and isinstance(raw, dict):
        raw = {k: activate(v) if k in logit_outputs else v for k, v in raw.items()}

    outputs = data_info.get("outputs") or {}
    if not outputs:  # an older run: every output learnt the dataset's classes
        names = list(raw) if isinstance(raw, dict) else [f"output_{i}" for i in range(len(raw))]
        outputs = {n: {"task": data_info.get("task"), "class_names": data_info.get("class_names")} for n in names}
    return top_per_output(raw, outputs, top_k=top_k)


def open_for_prediction(path: Path) -> Opened:
    """A run folder, a run's ``model.keras`` or an export's model file, with its facts (see :class:`Opened`)."""
    from .backend import configure_backend

    if path.is_dir() and not (path / "run.json").is_file() and (path / "model.tflite").is_file():
        path = path / "model.tflite"  # a TFLite export folder
    if path.is_dir():
        from .runs import load_run

        run = load_run(path)
        from .export.inference_model import raw_example_model

        views = raw_example_model(run)  # inputs cut from one raw example: its inference model takes that example
        if views is not None:
            return Opened(views[0], views[1], raw_inputs=True)
        from .evaluate.outputs import logit_outputs

        return Opened(run.model, run.data_info, logits=emits_logits(run.recipe, run.data_info),
                      logit_outputs=logit_outputs(run.recipe, run.data_info))
    if path.name == "model.keras" and _views_run(path.parent):  # a views run's own model: open the run
        return open_for_prediction(path.parent)
    card = read_json(path.parent / "model_card.json", None)
    if path.suffix == ".tflite" and path.is_file():  # a TFLite export (an int8 one quantized for it)
        from .export.tflite import TFLiteModel

        return Opened(TFLiteModel(path), _export_info(card if isinstance(card, dict) else {}),
                      raw_inputs=True)
    configure_backend("auto")
    from .saving import load_model_file

    model = load_model_file(path)
    if isinstance(card, dict) and card.get("format") in ("keras", "h5"):  # an export: raw inputs, probabilities
        return Opened(model, _export_info(card), raw_inputs=True)
    info = read_json(path.parent / "data.json", {}) or {}
    recipe_file = path.parent / "recipe.yaml"
    logits = False
    if recipe_file.is_file():  # a run's own model file: its loss says whether it emits logits
        from .recipe import load_recipe

        try:
            logits = emits_logits(load_recipe(recipe_file), info)
        except KerasforgeError:
            logits = False
    return Opened(model, info, logits=logits)


def _views_run(folder: Path) -> bool:
    """``folder`` is a run whose model takes views of one raw example (``data.views``)."""
    info = read_json(folder / "data.json", {}) if (folder / "run.json").is_file() else {}
    return isinstance(info, dict) and isinstance(info.get("input_shape"), dict)


def _export_info(card: dict) -> dict:
    """An export's facts for prediction: its run's ``data.json`` under its model card's fields."""
    run_info = read_json(Path(str(card.get("run") or "")) / "data.json", {}) if card.get("run") else {}
    return {**(run_info or {}), **{k: card[k] for k in ("class_names", "kind", "task", "input_shape",
                                                       "num_classes") if card.get(k) is not None}}


def emits_logits(recipe: Any, data_info: dict | None = None) -> bool:
    """True when the recipe's loss has ``from_logits: true`` on a classification task (one output)."""
    if (data_info or {}).get("task") == "regression":
        return False
    loss = getattr(getattr(recipe, "train", None), "loss", None)
    if loss is None or isinstance(loss, dict):
        return False
    return bool((getattr(loss, "kwargs", None) or {}).get("from_logits"))


def _model_input(model) -> tuple[tuple, str]:
    try:
        tensor = model.inputs[0]
        return tuple(tensor.shape[1:]), str(tensor.dtype)
    except (AttributeError, IndexError, ValueError, TypeError):
        return (), "float32"


def _read_input(file: Path, model, data_info: dict, *, raw_inputs: bool = False) -> np.ndarray:
    from .data import fit_features

    if not file.is_file():
        raise DataError(f"no such file {file}" if not file.exists() else f"{file} is not a regular file",
                        where=str(file), fix="Give the path of an image, a .npy array or a .txt file.")
    shape, dtype = _model_input(model)
    suffix = file.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        if "string" not in dtype:
            raise DataError("this model takes integer word sequences, not raw text", where=str(file),
                            fix="Give a .npy file of word ids, or train a model with a TextVectorization layer.")
        return np.array([_read_text(file)], dtype=object)
    if suffix == ".npy":
        x = _load_npy(file)
        if data_info.get("kind") == "image" and np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_:
            x = _as_raw_pixels(x, file)  # 0..255, whatever the array's type, as images and `kforge serve` take
            if not raw_inputs:
                x = _scale(x, data_info)
        elif x.dtype == np.uint8 and not raw_inputs:
            x = _scale(x.astype("float32"), data_info)
        natural = tuple(data_info.get("model_input_shape") or data_info.get("input_shape") or shape)
        x = _one_example_batched(x, natural)
        return fit_features(x.astype("float32"), shape, where=str(file)) if shape else x.astype("float32")
    if suffix in IMAGE_SUFFIXES:
        return _read_image(file, shape, data_info, raw_inputs=raw_inputs)
    raise DataError(f"cannot predict from a {suffix or 'suffix-less'} file", where=str(file),
                    fix=f"Give an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a .npy array or a .txt file.")


def _as_raw_pixels(x: np.ndarray, file: Path) -> np.ndarray:
    """An image array as raw 0..255 pixels (float32): uint8, whole numbers and floats above 1 are raw already;
    floats all within [0, 1] are pixels divided by 255 (the tutorials' ``x / 255.0``) and are multiplied back,
    with a note — where ``kforge serve``, a drop-in API, warns instead."""
    x = x.astype("float32")
    if not x.size or not bool(((x >= 0.0) & (x <= 1.0) | ~np.isfinite(x)).all()) or not bool((x != np.round(x)).any()):
        return x
    from .console import say

    say(f"  note: {file}: every value is within [0, 1]; read as pixels divided by 255 (the model takes 0..255)")
    return x * np.float32(255.0)


def _one_example_batched(x: np.ndarray, natural: tuple) -> np.ndarray:
    """Add the batch axis to one example: shaped like ``natural``, or like it without its last axis of 1
    (a (28, 28) array for a (28, 28, 1) model)."""
    natural = tuple(natural or ())
    if not natural:
        return x
    if x.shape == natural or (x.ndim == len(natural) and None in natural):
        return x[None, ...]
    if natural[-1] == 1 and x.ndim == len(natural) - 1 and x.shape == natural[:-1]:
        return x[None, ..., None]
    return x


def _read_text(file: Path, limit: int = 10_000_000) -> str:
    data = file.read_bytes()[:limit + 1] if file.stat().st_size > limit else file.read_bytes()
    if len(data) > limit:
        raise DataError(f"the text file is larger than {limit // 1_000_000} MB", where=str(file),
                        fix="Give one document per file.")
    if b"\x00" in data[:8192]:
        raise DataError("this is a binary file, not text", where=str(file), fix="Give a UTF-8 text file.")
    return data.decode("utf-8", errors="replace")


def _load_npy(file: Path) -> np.ndarray:
    """A numeric array from ``file`` (never a pickle), refusing junk, huge and non-finite arrays clearly."""
    try:
        x = np.load(file, mmap_mode="r", allow_pickle=False)  # the header only, nothing read yet
    except ValueError as exc:
        text = str(exc)
        what = ("holds Python objects (a pickle), which kerasforge never loads"
                if "pickle" in text.lower() or "python objects" in text.lower()
                else f"is not a valid .npy array ({text})")
        raise DataError(what, where=str(file), fix="Save a numeric array with numpy.save(path, array).") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"is not a .npy array ({exc})", where=str(file),
                        fix="Save one with numpy.save(path, array).") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        kind = getattr(getattr(x, "dtype", None), "name", type(x).__name__)
        raise DataError(f"holds {kind} values, not numbers", where=str(file),
                        fix="Save a numeric array (uint8 pixels, float32 features or int32 word ids).")
    if x.size > MAX_INPUT_VALUES:
        raise DataError(f"holds {x.size:,} values (shape {x.shape}), more than kforge predict takes at once "
                        f"({MAX_INPUT_VALUES:,})", where=str(file), fix="Split it into smaller files.")
    x = np.array(x)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError("holds NaN or infinite values", where=str(file), fix="Replace them with real numbers.")
    return x


def _read_image(file: Path, shape: tuple, data_info: dict, *, raw_inputs: bool = False) -> np.ndarray:
    from .data import fit_features

    natural = tuple(data_info.get("input_shape") or shape)
    if len(natural) != 3:
        raise DataError(f"this model does not take images (its input is {natural})", where=str(file),
                        fix="Give a .npy array shaped like one example.")
    height, width, channels = natural
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels, "RGB")
    x = np.asarray(open_image(file, mode, (width, height)), dtype="float32")
    x = x.reshape(1, height, width, channels)
    if not raw_inputs:
        x = _scale(x, data_info)
    return fit_features(x, shape, where=str(file)) if shape else x


def open_image(file: Path, mode: str, size: tuple[int, int] | None = None) -> Any:
    """The image in ``file`` converted to ``mode`` (and resized to ``(width, height)``), as a PIL image.

    Decompression bombs (more than :data:`MAX_IMAGE_PIXELS` pixels), truncated and non-image files are a
    :class:`DataError` naming the file.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height} pixels")
                image = image.convert(mode)
                return image.resize(size) if size else image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"the image is too large to decode safely ({exc}); it looks like a decompression bomb",
                        where=str(file), fix="Give an ordinary image (at most "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels).") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read the image ({exc})", where=str(file),
                        fix="Give a valid PNG or JPEG file.") from None


def _scale(x: np.ndarray, data_info: dict) -> np.ndarray:
    """8-bit pixels -> the model's input scale, with the training data's own normalisation."""
    pre = data_info.get("preprocessing") or {}
    if "offset" not in pre:  # a run without recorded statistics: assume pixels scaled to [0, 1]
        return x / 255.0
    pixel_max = float(pre.get("pixel_max") or 255.0)
    raw = x * (pixel_max / 255.0)  # into the units of the training data (e.g. 0..16 for digits)
    return (raw - np.asarray(pre["offset"], dtype="float32")) / np.asarray(pre["divisor"], dtype="float32")


def _probabilities(raw: Any, *, logits: bool = False) -> np.ndarray:
    """Class probabilities from a model's output; ``logits=True`` applies softmax (or sigmoid for one unit)."""
    if isinstance(raw, dict):
        raw = next(iter(raw.values()))
    if isinstance(raw, list | tuple):
        raw = raw[0]
    raw = np.asarray(raw, dtype="float64")
    if raw.ndim == 1:
        raw = raw[:, None]
    if logits:
        if raw.shape[1] == 1:
            raw = 1.0 / (1.0 + np.exp(-np.clip(raw, -60, 60)))
        else:
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            raw = shifted / shifted.sum(axis=1, keepdims=True)
    if raw.shape[1] == 1:  # one sigmoid unit: probability of class 1
        return np.concatenate([1.0 - raw, raw], axis=1)
    return raw


__all__ = ["predict", "KerasforgeError"]
