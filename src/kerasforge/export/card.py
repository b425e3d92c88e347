"""``model_card.json``: what an export is, what it takes and gives, how well it did, and that it verified.

One card sits beside each artifact in ``<run>/exports/<format>[-<quantize>]/``. Its fields:

- ``card_version`` (1), ``name`` (the recipe's name), ``run`` (the run folder's absolute path at export
  time), ``created`` (ISO time), ``kerasforge`` (version).
- ``format`` (keras, h5, weights, savedmodel, tflite, onnx), ``quantize`` (null, "dynamic", "float16", "int8"),
  ``artifact`` (the file or folder in this folder: model.keras, model.h5, model.weights.h5, saved_model,
  model.tflite, model.onnx), ``runtime`` (what loads it).
- ``task`` (multiclass, binary, regression), ``kind`` (image, sequence, text, tabular), ``class_names``
  (in the order of the outputs), ``num_classes``, ``input_shape`` (one RAW example, e.g. [28, 28, 1]).
- ``input``: {``name``, ``tensor``, ``kind``, ``shape`` (batch first, null), ``dtype`` (float32, int32,
  string), ``description`` (e.g. "raw pixel values 0..255 ..."), ``range`` ([0, 255] for images)}: exports
  take RAW inputs. ``name`` is the key a client of this artifact uses and ``tensor`` its graph tensor, as
  read back from the artifact (e.g. SavedModel ``pixels`` / ``serving_default_pixels:0``).
- ``output``: {``name``, ``tensor``, ``shape``, ``dtype``, ``meaning``}: class probabilities (softmax) in
  class_names' order, or for one sigmoid unit the probability of class 1 (shape [null, 1]); ``name`` as the
  artifact calls it (ONNX/SavedModel ``output_0``, LiteRT's signature key, Keras' layer name).
- ``preprocessing``: what the training did to this kind of input, from data.json (images: ``normalize``,
  ``offset``, ``divisor``, ``pixel_max``, ``image_size``, ``color_mode``; tabular: ``normalize``,
  ``offset``, ``divisor``; sequences: ``maxlen``, ``num_words``) plus ``built_in``: the layers that apply
  it inside the exported graph, in words (nothing is left for the caller to do); for a multi-input model fed
  by ``data.views``, ``views``: {``kind``, ``shape`` (the raw example), ``runs`` ({input: [[start, stop), ...]]
  of the flattened example)}, the cut the graph makes.
- ``metrics``: the run's test metrics (metrics.json).
- ``files``: {relative path: {``bytes``, ``sha256``}} for every file of the export but the card;
  ``size_bytes``: their total.
- ``verification``: {``passed``, ``examples``, ``max_abs_diff``, ``accuracy_keras``, ``accuracy_export``,
  ``accuracy_delta``, ``criterion``, ``runtime``, ``verified_at``}: the export reloaded in its own
  runtime and compared with the Keras inference model on held-out test examples.
- ``quantization`` (int8 exports only): {``mode``, ``input`` and ``output``: {``dtype``, ``scale``,
  ``zero_point``} of the artifact's tensors, ``representative``: {``examples``, ``split``, ``source``}: the
  training examples its activations were calibrated on}; ``input.dtype``/``output.dtype`` are then the
  artifact's integer types.
- ``versions``: the libraries that wrote and verified it.
- ``notes``: anything a user of the export should know (e.g. weights need the architecture).

Example:
    >>> card = read_card(Path("runs/fashion_mnist_cnn-20261123-101500/exports/onnx"))   # doctest: +SKIP
    >>> card["verification"]["passed"], card["input"]["description"]                    # doctest: +SKIP
    (True, 'raw pixel values 0..255, float32, layout (N, 28, 28, 1) grayscale')
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .errors import ExportError

CARD = "model_card.json"
CARD_VERSION = 1
PREPROCESSING_KEYS = {  # what the training did to each kind of input (data.json records every key)
    "image": ("normalize", "offset", "divisor", "pixel_max", "image_size", "color_mode"),
    "tabular": ("normalize", "offset", "divisor"),
    "sequence": ("maxlen", "num_words"),
    "text": (),
}


def file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {bytes, sha256}}`` for every file under ``folder`` except the card."""
    entries = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CARD):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        entries[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    return entries


def make_card(run, inference, *, fmt: str, quantize: str | None, artifact: str, runtime: str, folder: Path,
              verification: dict[str, Any], versions: dict[str, str], notes: list[str],
              names: dict[str, dict[str, str]] | None = None,
              quantization: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card of the export in ``folder`` (its files hashed now).

    ``names``: the artifact's true input/output names and graph tensors (:mod:`.signature`); they replace
    the inference model's own names, which the artifact may not keep.
    """
    from .. import __version__

    info = run.data_info or {}
    files = file_entries(folder)
    pre = info.get("preprocessing") or {}
    card = {
        "card_version": CARD_VERSION, "name": run.recipe.name, "run": str(Path(run.path).resolve()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "kerasforge": __version__,
        "format": fmt, "quantize": quantize, "artifact": artifact, "runtime": runtime,
        "task": info.get("task"), "kind": inference.raw.kind, "class_names": list(info.get("class_names") or []),
        "num_classes": info.get("num_classes"), "input_shape": inference.raw.shape,
        "input": {**inference.raw.as_card(), **(names or {}).get("input", {}),
                  **({"range": [0, 255]} if inference.raw.kind == "image" else {})},
        "output": {**inference.output, **(names or {}).get("output", {})},
        "preprocessing": {**{k: pre.get(k) for k in PREPROCESSING_KEYS.get(inference.raw.kind, ()) if k in pre},
                          **({"views": pre["views"]} if pre.get("views") else {}),  # inputs cut inside
                          "built_in": inference.built_in},
        "metrics": dict(run.metrics or {}),
        "files": files, "size_bytes": sum(f["bytes"] for f in files.values()),
        "verification": verification, "versions": versions, "notes": notes,
    }
    if quantization:
        card["quantization"] = quantization
        for side in ("input", "output"):
            dtype = quantization.get(side, {}).get("dtype")
            if dtype and dtype != card[side].get("dtype"):
                if isinstance(card[side].get("description"), str):
                    card[side]["description"] = card[side]["description"].replace(
                        f", {card[side].get('dtype')},", f", {dtype} (quantized, see quantization.{side}),")
                card[side]["dtype"] = dtype
    return card


def write_card(folder: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` as ``folder/model_card.json``."""
    path = folder / CARD
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def read_card(folder: Path) -> dict[str, Any]:
    """The card of the export in ``folder``; an :class:`ExportError` when it is missing or unreadable."""
    path = Path(folder) / CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder} has no {CARD}", where=str(folder),
                          fix="Give an export folder made by `kforge export` (runs/<run>/exports/<format>).") from None
    except ValueError as exc:
        raise ExportError(f"{CARD} is not valid JSON ({exc})", where=str(path),
                          fix="Export the run again with `kforge export`.") from None
    if not isinstance(card, dict) or "format" not in card:
        raise ExportError(f"{CARD} names no format", where=str(path), fix="Export the run again with `kforge export`.")
    return card


def changed_files(folder: Path, card: dict[str, Any]) -> list[str]:
    """What differs from the card's checksums: ``'model.onnx (sha256 differs)'``, ``'x (missing)'``..."""
    now = file_entries(folder)
    problems = []
    for name, entry in (card.get("files") or {}).items():
        if name not in now:
            problems.append(f"{name} (missing)")
        elif now[name]["sha256"] != entry.get("sha256"):
            problems.append(f"{name} (sha256 differs: {now[name]['bytes']} bytes now, {entry.get('bytes')} at export)")
    problems += [f"{name} (not in the card)" for name in now if name not in (card.get("files") or {})]
    return problems
