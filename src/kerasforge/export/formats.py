"""The export formats: artifact name, runtime, quantisations, and the module that saves and reloads each.

A format module has ``save(model, folder, *, quantize)`` (writes the artifact of the inference model into
``folder``) and ``load(folder, rebuild)`` (reloads it in its own runtime and returns ``predict(x) -> array``;
``rebuild()`` gives a fresh inference model for formats that hold weights only).

Example:
    >>> parse_formats(["keras,onnx", "tflite"], quantize="float16")
    [('keras', None), ('onnx', None), ('tflite', 'float16')]
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import did_you_mean
from .errors import ExportError


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str
    artifact: str
    module: str
    runtime: str
    quantize: tuple[str, ...] = ()

    def implementation(self):
        """The module that saves and reloads this format (imported on first use)."""
        return importlib.import_module(f"{__package__}.{self.module}")


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("keras", "model.keras", "keras_formats", "Keras (keras.saving.load_model, safe_mode)"),
    Format("h5", "model.h5", "keras_formats", "Keras (keras.saving.load_model, legacy HDF5)"),
    Format("weights", "model.weights.h5", "keras_formats", "Keras (inference model rebuilt + load_weights)"),
    Format("savedmodel", "saved_model", "savedmodel", "TensorFlow (tf.saved_model.load)"),
    Format("tflite", "model.tflite", "tflite", "LiteRT / TFLite interpreter", ("dynamic", "float16", "int8")),
    Format("onnx", "model.onnx", "onnx", "ONNX Runtime (CPUExecutionProvider)", ("dynamic",)),
)}
QUANTIZATIONS = ("dynamic", "float16", "int8")


def folder_name(fmt: str, quantize: str | None) -> str:
    """``exports/<format>[-<quantize>]``'s last part.

    >>> folder_name("tflite", "dynamic")
    'tflite-dynamic'
    """
    return f"{fmt}-{quantize}" if quantize else fmt


def parse_formats(values: Iterable[str], quantize: str | None = None) -> list[tuple[str, str | None]]:
    """``(format, quantize)`` pairs from ``--format`` values: names, comma lists, or ``tflite-float16``.

    ``quantize`` applies to every format named without one of its own; a format that cannot be quantised
    that way is an error naming the formats that can.
    """
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantize!r}", where="--quantize",
                          fix=f"Use one of: {', '.join(QUANTIZATIONS)}.")
    pairs: list[tuple[str, str | None]] = []
    for value in values:
        for item in (v.strip().lower() for v in str(value).split(",")):
            if not item:
                continue
            name, _, quant = item.partition("-")
            if name not in FORMATS:
                raise ExportError(f"unknown export format {item!r}.{did_you_mean(name, FORMATS)}", where="--format",
                                  fix=f"Use one or more of: {', '.join(FORMATS)} (e.g. --format onnx,tflite).")
            quant = quant or quantize
            if quant and quant not in FORMATS[name].quantize:
                can = [f"{f.name} ({'/'.join(f.quantize)})" for f in FORMATS.values() if f.quantize]
                raise ExportError(f"the {name} format cannot be quantized as {quant!r}", where="--quantize",
                                  fix=f"Quantize only {', '.join(can)}; export the other formats in float32 "
                                      "(e.g. --format keras,tflite-float16).")
            if (name, quant or None) not in pairs:
                pairs.append((name, quant or None))
    if not pairs:
        raise ExportError("no export format given", where="--format",
                          fix=f"Name one or more of: {', '.join(FORMATS)}.")
    return pairs
