"""Decoding and validating what clients send: JSON instances, uploaded images, text.

Everything arrives RAW, as the exports take it: pixel values 0..255 in the data's natural layout
(e.g. 28x28 or 28x28x1 nested lists), lists of word ids, or strings for text models. Anything else is
a :class:`~kerasforge.serve.errors.ServeError` (4xx) that says what was expected.

Example:
    >>> spec = InputSpec(kind="image", shape=(2, 2, 1), dtype="float32")
    >>> instances_array({"instances": [[[0, 255], [10, 20]]]}, spec).shape
    (1, 2, 2, 1)
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ServeError

try:  # a C JSON codec, about 2x faster on pixel arrays; the standard library otherwise
    import orjson

    _fast_loads = orjson.loads

    def dumps(value: Any) -> bytes:
        """``value`` as compact JSON bytes (NumPy arrays included)."""
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)

except ImportError:  # pragma: no cover - orjson is part of the serve extra
    _fast_loads = json.loads

    def dumps(value: Any) -> bytes:
        """``value`` as compact JSON bytes (NumPy arrays included)."""
        return json.dumps(value, separators=(",", ":"),
                          default=lambda v: v.tolist() if isinstance(v, np.ndarray) else str(v)).encode()


def _loads(body: bytes) -> Any:
    try:
        return _fast_loads(body)
    except ValueError:  # NaN/Infinity literals (which orjson refuses) get their own error later on
        return json.loads(body)


@dataclass(frozen=True)
class Limits:
    """What one request may hold (the body size itself is capped by ``--max-request-bytes``)."""

    max_instances: int = 1024
    max_image_pixels: int = 4096 * 4096  # checked from the header, before the image is decoded
    max_text_chars: int = 100_000


@dataclass(frozen=True)
class InputSpec:
    """One RAW example as a model takes it: ``kind`` (image/sequence/tabular/text), shape, dtype."""

    kind: str
    shape: tuple[int | None, ...]
    dtype: str  # "float32", "int32" or "string"
    preprocessing: dict = field(default_factory=dict, compare=False, hash=False)

    def describe(self) -> dict[str, Any]:
        """The input signature shown in model metadata."""
        return {"kind": self.kind, "shape": [None, *self.shape], "dtype": self.dtype,
                "raw": _raw_note(self)}


def _raw_note(spec: InputSpec) -> str:
    if spec.dtype == "string":
        return "one string per instance (the text itself)"
    if spec.dtype == "int32":
        return "one list of word ids per instance (padded or cut to the model's length)"
    if spec.kind == "image":
        return f"pixel values 0..255 shaped {list(spec.shape)}" + (
            f" (or {list(spec.shape[:-1])})" if spec.shape and spec.shape[-1] == 1 else "")
    return f"numbers shaped {list(spec.shape)}"


# ---------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------
def parse_json(body: bytes) -> Any:
    """The JSON value of a request body; 400 for an empty or malformed body.

    >>> parse_json(b'{"instances": [1]}')
    {'instances': [1]}
    """
    if not body or not body.strip():
        raise ServeError(400, "empty_body", "the request body is empty",
                         fix='Send JSON such as {"instances": [...]}.')
    try:
        return _loads(body)
    except (ValueError, RecursionError) as exc:
        raise ServeError(400, "invalid_json", f"the request body is not valid JSON ({exc})"[:300],
                         fix='Send JSON such as {"instances": [...]}.') from None


def instances_array(payload: Any, spec: InputSpec, limits: Limits = Limits()) -> np.ndarray:
    """The batch of RAW examples in a TF-Serving predict body (one input, row or columnar form).

    >>> instances_array({"inputs": [[1.0, 2.0]]}, InputSpec("tabular", (2,), "float32")).shape
    (1, 2)
    """
    from .tfserving import predict_items

    items, key = predict_items(payload, (), where_unnamed=True)
    return batch_array(items, spec, limits, where=key)


def batch_array(items: Any, spec: InputSpec, limits: Limits, *, where: str) -> np.ndarray:
    """A list of examples (checked for count) -> one validated array."""
    if not isinstance(items, list):
        raise ServeError(400, "bad_request", f"'{where}' must be a list of examples", where=where,
                         fix=f'Send {{"{where}": [example, ...]}}.')
    if not items:
        raise ServeError(400, "empty_instances", f"'{where}' is empty", where=where, fix="Send at least one example.")
    if len(items) > limits.max_instances:
        raise ServeError(413, "too_many_instances", f"{len(items)} examples in one request; at most "
                         f"{limits.max_instances} are allowed", where=where, fix="Split the request.")
    return examples_array(items, spec, where=where, limits=limits)


def examples_array(items: list, spec: InputSpec, *, where: str, limits: Limits = Limits()) -> np.ndarray:
    """A list of RAW examples -> one array shaped ``(n, *spec.shape)``.

    An example may be ``{"b64": "..."}`` (TF Serving's binary value): encoded image bytes (PNG, JPEG...)
    for an image model, UTF-8 text for a text model.
    """
    if spec.dtype != "string" and any(isinstance(item, dict) for item in items):
        return _binary_images(items, spec, where, limits)
    if spec.dtype == "string":
        return _strings(items, where)
    if spec.dtype == "int32":
        return _word_ids(items, spec, where)
    return _numbers(items, spec, where)


def _strings(items: list, where: str) -> np.ndarray:
    texts = []
    for i, item in enumerate(items):
        if isinstance(item, list) and len(item) == 1:
            item = item[0]
        if isinstance(item, dict):
            try:
                item = b64_bytes(item, f"{where}[{i}]").decode("utf-8")
            except UnicodeDecodeError:
                raise ServeError(400, "bad_dtype", f"{where}[{i}] is not UTF-8 text", where=f"{where}[{i}]",
                                 fix="Send the text as a JSON string.") from None
        if not isinstance(item, str):
            raise ServeError(400, "bad_dtype", f"{where}[{i}] must be a string (this is a text model)",
                             where=f"{where}[{i}]", fix='Send {"instances": ["a review ...", ...]}.')
        texts.append(item)
    return np.array(texts, dtype=object)


def _word_ids(items: list, spec: InputSpec, where: str) -> np.ndarray:
    from ..data.imdb import pad_sequences

    num_words = spec.preprocessing.get("num_words") or 2**31 - 1
    for i, item in enumerate(items):
        ok = isinstance(item, list) and all(type(v) is int and 0 <= v < num_words for v in item)
        if not ok:
            raise ServeError(400, "bad_dtype", f"{where}[{i}] must be a list of word ids, integers from 0 to "
                             f"{num_words - 1}", where=f"{where}[{i}]",
                             fix='Send {"instances": [[1, 14, 22, ...], ...]}, or raw text to a text model.')
    length = spec.shape[0] if spec.shape and spec.shape[0] else max(len(item) for item in items) or 1
    return pad_sequences(items, length)


def _numbers(items: list, spec: InputSpec, where: str) -> np.ndarray:
    expected = _raw_note(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = np.asarray(items)
    except (ValueError, TypeError, OverflowError):
        x = None
    if x is None or x.dtype.kind not in "iuf" or x.dtype == np.float16:
        raise ServeError(400, "bad_dtype", f"'{where}' must hold numbers only, in arrays of one shape: {expected}",
                         where=where, fix="Send plain JSON numbers (no strings, booleans, nulls or ragged lists).")
    x = _fit_shape(x, spec, where, expected)
    with np.errstate(over="ignore"):
        x = x.astype("float32")
    # NaN and +-Infinity are valid DT_FLOAT values in TF Serving's JSON; only a pixel cannot be one.
    if spec.kind == "image" and not np.isfinite(x).all():
        raise ServeError(400, "not_finite", f"'{where}' holds NaN or infinite values (or numbers beyond float32), "
                         f"which are no pixel values; expected raw {expected}", where=where,
                         fix="Send the image's pixel values as they are (0..255).")
    if spec.kind == "image" and (x.min() < 0 or x.max() > 255):
        raise ServeError(400, "out_of_range", f"'{where}' holds values outside 0..255; expected raw {expected}",
                         where=where, fix="Send the image's pixel values as they are (0..255); the server "
                                          "scales them as the model was trained.")
    return x


def _binary_images(items: list, spec: InputSpec, where: str, limits: Limits) -> np.ndarray:
    if spec.kind != "image":
        raise ServeError(400, "bad_dtype", f"'{where}' holds objects, but this {spec.kind} model takes numbers",
                         where=where, fix='Send plain JSON numbers; {"b64": ...} is for image bytes and text.')
    return np.concatenate([image_array(b64_bytes(item, f"{where}[{i}]"), spec, limits, where=f"{where}[{i}]")
                           if isinstance(item, dict) else _numbers([item], spec, f"{where}[{i}]")
                           for i, item in enumerate(items)])


def b64_bytes(value: Any, where: str) -> bytes:
    """The bytes of TF Serving's binary value ``{"b64": "<base64>"}``.

    >>> b64_bytes({"b64": "aGk="}, "instances[0]")
    b'hi'
    """
    if not (isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str)):
        raise ServeError(400, "bad_dtype", f"{where} must be a value, a list or a binary value {{\"b64\": ...}}",
                         where=where, fix='Encode bytes as {"b64": "<base64 string>"}.')
    text = value["b64"].strip().replace("-", "+").replace("_", "/")  # the URL-safe alphabet too
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ServeError(400, "bad_base64", f"the 'b64' value of {where} is not valid base64", where=where,
                         fix="Encode the bytes with base64 (e.g. base64.b64encode(data).decode()).") from None


def contract_warning(x: np.ndarray, spec: InputSpec) -> str | None:
    """A warning when an image model that takes raw 0..255 pixels gets values that all lie in [0, 1].

    Such a request is almost always pixels scaled by the client (``x / 255.0``, as many TF tutorials
    do) and would get a confident, wrong answer. Whole-number 0/1 images (blank or binary) pass.

    >>> contract_warning(np.array([[0.0, 0.5, 1.0]]), InputSpec("image", (3,), "float32")) is not None
    True
    >>> contract_warning(np.array([[0.0, 128.0, 255.0]]), InputSpec("image", (3,), "float32")) is None
    True
    """
    if spec.kind != "image" or spec.dtype != "float32" or not x.size:
        return None
    if float(x.max()) > 1.0 or float(x.min()) < 0.0 or not bool((x != np.round(x)).any()):
        return None
    return ("every value is within [0, 1], but this model takes raw pixel values 0..255 (it scales them "
            "itself): the client probably divided by 255 already, and the predictions are likely wrong; "
            "send the pixels as they are")


def _fit_shape(x: np.ndarray, spec: InputSpec, where: str, expected: str) -> np.ndarray:
    got, want = tuple(x.shape[1:]), tuple(spec.shape)
    if _same(got, want):
        return x
    if want and want[-1] == 1 and _same(got, want[:-1]):  # a grayscale image without its channel axis
        return x[..., None]
    raise ServeError(400, "bad_shape", f"each example in '{where}' has shape {list(got)} but the model "
                     f"expects {expected}", where=where, fix=f"Send examples shaped {list(want)}.")


def _same(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want, strict=True))


# ---------------------------------------------------------------------------------------------------
# images and text
# ---------------------------------------------------------------------------------------------------
def image_array(data: bytes, spec: InputSpec, limits: Limits = Limits(), *, where: str = "file") -> np.ndarray:
    """An uploaded image file -> one RAW example ``(1, H, W, C)``, resized to the model's size.

    The pixel count is read from the header and capped *before* the image is decoded (a small PNG can
    expand to gigabytes: a decompression bomb).
    """
    from PIL import Image

    if spec.kind != "image" or len(spec.shape) not in (2, 3) or None in spec.shape:
        raise ServeError(400, "not_an_image_model", f"this model does not take images (its input is "
                         f"{spec.kind} shaped {list(spec.shape)})", where=where,
                         fix="Send JSON instances to :predict, or text to :classify.")
    if not data:
        raise ServeError(400, "empty_body", "the uploaded file is empty", where=where, fix="Upload a PNG or JPEG.")
    height, width = spec.shape[0], spec.shape[1]
    channels = spec.shape[2] if len(spec.shape) == 3 else 1
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels, "RGB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                pixels = image.size[0] * image.size[1]
                if pixels > limits.max_image_pixels:
                    raise ServeError(413, "image_too_large", f"the image is {image.size[0]}x{image.size[1]} "
                                     f"({pixels} pixels); at most {limits.max_image_pixels} pixels are "
                                     "accepted", where=where, fix="Send a smaller image.")
                image.draft(mode, (width, height))  # JPEG: decode at a reduced size when possible
                x = np.asarray(image.convert(mode).resize((width, height)), dtype="float32")
    except ServeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # PIL's own cap, met in open()
        raise ServeError(413, "image_too_large", f"the image has more pixels than the {limits.max_image_pixels} "
                         "accepted (PIL refused it as a possible decompression bomb)", where=where,
                         fix="Send a smaller image.") from None
    except Exception as exc:  # PIL raises many types for broken files; all mean "not a readable image"
        raise ServeError(400, "not_an_image", f"the upload is not a readable image ({type(exc).__name__})",
                         where=where, fix="Upload a PNG, JPEG, GIF, BMP or WebP image.") from None
    return x.reshape((1, *spec.shape))


def text_array(text: Any, spec: InputSpec, limits: Limits = Limits()) -> np.ndarray:
    """One review or document -> a one-example array for a text model."""
    if spec.dtype != "string":
        raise ServeError(400, "not_a_text_model", f"this model does not take raw text (its input is {spec.kind} "
                         f"shaped {list(spec.shape)})", where="text",
                         fix="Send JSON instances to :predict (word ids for sequence models), or an image.")
    if not isinstance(text, str) or not text.strip():
        raise ServeError(400, "empty_text", "'text' must be a non-empty string", where="text",
                         fix='Send {"text": "a review ..."} or a form field named text.')
    if len(text) > limits.max_text_chars:
        raise ServeError(413, "text_too_long", f"the text has {len(text)} characters; at most "
                         f"{limits.max_text_chars} are accepted", where="text", fix="Send a shorter text.")
    return np.array([text], dtype=object)


def top_k(probabilities: np.ndarray, class_names: list[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` most likely classes of one example, best first.

    >>> top_k(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], 2)
    [{'label': 'b', 'index': 1, 'probability': 0.7}, {'label': 'c', 'index': 2, 'probability': 0.2}]
    """
    order = np.argsort(probabilities)[::-1][:k]
    return [{"label": class_names[i] if i < len(class_names) else str(i), "index": int(i),
             "probability": round(float(probabilities[i]), 6)} for i in order if math.isfinite(probabilities[i])]
