"""LiteRT (TFLite) export (``model.tflite``): float32, or quantized ``dynamic`` (int8 weights) or ``float16``.

Converted by Keras' LiteRT exporter with TFLite's built-in ops only, so the file runs in the plain LiteRT
interpreter (no Flex/TensorFlow ops). Recurrent layers (LSTM, GRU, SimpleRNN) over a fixed number of time
steps are unrolled first (same weights), so no while loop or TensorList op is left; a layer whose ops are not built in (TextVectorization's string
ops, for one) fails the export with the ops and layers named. Reloaded with ``ai_edge_litert`` when it
is installed, else with TensorFlow's ``tf.lite.Interpreter``.

Example:
    >>> save(inference.model, Path("out"), quantize="float16")   # doctest: +SKIP
    >>> load(Path("out"))(pixels).shape                           # doctest: +SKIP
    (256, 10)
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .inference_graph import unrolled_recurrent
from .tensorflow_backend import on_tensorflow

ARTIFACT = "model.tflite"


def save(model, folder: Path, *, fmt: str = "tflite", quantize: str | None = None) -> Path:
    """Convert ``model`` to ``folder/model.tflite`` (built-in ops only; on TensorFlow whatever this
    process's backend, see :mod:`.tensorflow_backend`); returns the file."""
    return on_tensorflow(fmt, model, folder, quantize=quantize, save=_save)


def _save(model, folder: Path, *, fmt: str = "tflite", quantize: str | None = None) -> Path:
    import tensorflow as tf

    model, _ = unrolled_recurrent(model)  # LSTM/GRU without TensorList ops: TFLite's built-in ops only

    target = folder / ARTIFACT
    options: dict = {"target_spec": {"supported_ops": {tf.lite.OpsSet.TFLITE_BUILTINS}}}
    if quantize in ("dynamic", "float16"):
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    with _quiet():
        model.export(str(target), format="litert", verbose=False, **options)
    return target


def interpreter(path: Path):
    """A LiteRT interpreter for ``path``: ``ai_edge_litert``'s, else TensorFlow's (deprecated there)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def load(folder: Path, rebuild: Callable | None = None, *, fmt: str = "tflite") -> Callable[[np.ndarray], np.ndarray]:
    """Reload ``folder/model.tflite`` in the LiteRT interpreter; returns ``predict(x)`` (one batch per call)."""
    with _quiet():
        runner = interpreter(folder / ARTIFACT)
    (inp,), (out,) = runner.get_input_details(), runner.get_output_details()

    def predict(x: np.ndarray) -> np.ndarray:
        runner.resize_tensor_input(inp["index"], list(x.shape), strict=False)
        runner.allocate_tensors()
        runner.set_tensor(inp["index"], np.ascontiguousarray(x, dtype=inp["dtype"]))
        runner.invoke()
        return np.array(runner.get_tensor(out["index"]))

    return predict


def versions() -> dict[str, str]:
    """The interpreter's and TensorFlow's versions, for the model card."""
    found = {}
    try:
        import ai_edge_litert

        found["ai_edge_litert"] = getattr(ai_edge_litert, "__version__", "installed")
    except ImportError:
        found["interpreter"] = "tf.lite.Interpreter"
    import tensorflow as tf

    found["tensorflow"] = tf.__version__
    return found


@contextlib.contextmanager
def _quiet():
    """Silence the converter's and interpreter's chatter on stdout/stderr (errors still raise)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
