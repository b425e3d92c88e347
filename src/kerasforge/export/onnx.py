"""ONNX export (``model.onnx``), float32 or ``dynamic`` (int8 weights), reloaded with ONNX Runtime.

Keras converts the inference model (``model.export(format="onnx")``, through tf2onnx on the TensorFlow
backend — in a TensorFlow child process when this one runs on JAX); ``dynamic`` quantisation is ONNX Runtime's ``quantize_dynamic``. The graph's first input takes
the RAW examples, its first output gives the probabilities.

Example:
    >>> save(inference.model, Path("out"))        # doctest: +SKIP
    >>> load(Path("out"))(pixels).shape             # doctest: +SKIP
    (256, 10)
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ExportError
from .tensorflow_backend import on_tensorflow

ARTIFACT = "model.onnx"


def save(model, folder: Path, *, fmt: str = "onnx", quantize: str | None = None) -> Path:
    """Convert ``model`` to ``folder/model.onnx`` (through tf2onnx, on TensorFlow whatever this process's
    backend: see :mod:`.tensorflow_backend`); returns the file."""
    return on_tensorflow(fmt, model, folder, quantize=quantize, save=_save)


def _save(model, folder: Path, *, fmt: str = "onnx", quantize: str | None = None) -> Path:
    _require("tf2onnx")
    target = folder / ARTIFACT
    float_path = folder / "float32.onnx" if quantize else target
    with _quiet():  # the signature given: Keras asks for a model "called" once, which JAX's predict does not mark
        model.export(str(float_path), format="onnx", verbose=False, input_signature=input_signature(model))
    import onnx

    # tf2onnx writes ops it cannot convert into the graph as they are (and only logs them): the checker
    # turns that into an error naming the op, before any runtime sees the file
    onnx.checker.check_model(str(float_path), full_check=True)
    if quantize == "dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with _quiet():
            quantize_dynamic(str(float_path), str(target), weight_type=QuantType.QInt8)
        float_path.unlink()
    return target


def input_signature(model) -> list:
    """The raw input's spec, as Keras' exporters take it (one positional argument)."""
    import keras

    (raw,) = model.inputs
    return [keras.InputSpec(shape=tuple(raw.shape), dtype=raw.dtype, name=raw.name)]


def load(folder: Path, rebuild: Callable | None = None, *, fmt: str = "onnx") -> Callable[[np.ndarray], np.ndarray]:
    """Reload ``folder/model.onnx`` with ONNX Runtime on the CPU; returns ``predict(x)``."""
    _require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(folder / ARTIFACT), options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    output = session.get_outputs()[0].name
    dtype = {"tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(string)": object}.get(first.type, np.float32)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run([output], {first.name: np.ascontiguousarray(x, dtype=dtype)})[0])

    return predict


def versions() -> dict[str, str]:
    """Versions of onnx, ONNX Runtime and tf2onnx, for the model card."""
    found = {}
    for name in ("onnx", "onnxruntime", "tf2onnx"):
        with contextlib.suppress(ImportError):
            found[name] = __import__(name).__version__
    return found


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ExportError(f"the onnx format needs the {module} package, which is not installed", where="--format onnx",
                          fix="Install kerasforge's export extra: pip install 'kerasforge[export]'.")


@contextlib.contextmanager
def _quiet():
    """tf2onnx and the quantizer log every step at INFO; keep their warnings and errors only."""
    loggers = [logging.getLogger(n) for n in ("tf2onnx", "root", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
