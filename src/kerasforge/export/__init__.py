"""The ``export`` stage: a run's model in deployable formats that take RAW inputs, each verified.

Formats: ``keras``, ``h5``, ``weights``, ``savedmodel``, ``tflite`` (+ ``dynamic``/``float16``), ``onnx``
(+ ``dynamic``), written to ``<run>/exports/<format>[-<quantize>]/`` with a ``model_card.json``
(see :mod:`kerasforge.export.card`). The training preprocessing is built into the exported graph, so
images go in as pixels 0..255, sequences as int32 word ids, text as strings (keras/savedmodel).

Example:
    >>> from kerasforge.export import export_run, verify_export
    >>> results = export_run("runs/fashion_mnist_cnn-20261123-101500", ["onnx", "tflite"])   # doctest: +SKIP
    >>> verify_export(results["onnx"].path)["passed"]                                         # doctest: +SKIP
    True
"""

from __future__ import annotations

from .card import read_card
from .errors import ExportError
from .exporter import ExportResult, export_run
from .formats import FORMATS, parse_formats
from .inference_model import build_inference_model
from .verify import verify_export

__all__ = ["FORMATS", "ExportError", "ExportResult", "build_inference_model", "export_run", "parse_formats",
           "read_card", "verify_export"]
