"""LiteRT (TFLite) export (``model.tflite``): float32, or quantized ``dynamic`` (int8 weights), ``float16``,
or ``int8`` (full-integer: int8 weights and activations, calibrated on a representative set of the run's
training examples; uint8 input and output tensors, see :func:`to_input` and :func:`from_output`).

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

from .errors import ExportError, all_layers, layers_in_node_paths
from .inference_graph import unrolled_recurrent
from .tensorflow_backend import on_tensorflow

ARTIFACT = "model.tflite"
INT8_IO = "uint8"  # an int8 export's input and output type: raw pixels 0..255 are uint8 already
_QUANTIZE_OPS = ("QUANTIZE", "DEQUANTIZE")


def save(model, folder: Path, *, fmt: str = "tflite", quantize: str | None = None,
         representative: np.ndarray | None = None) -> Path:
    """Convert ``model`` to ``folder/model.tflite`` (built-in ops only; on TensorFlow whatever this
    process's backend, see :mod:`.tensorflow_backend`); returns the file.

    ``quantize="int8"`` needs ``representative``: raw examples as the model takes them (a few hundred of
    the training data) to calibrate the activations' ranges on. An int8 model that still computes some op
    in float32 (no int8 kernel for it) is refused, naming the op and its layer.
    """
    if quantize != "int8":
        return on_tensorflow(fmt, model, folder, quantize=quantize, save=_save)
    if representative is None or not len(representative):
        raise ExportError("an int8 export needs representative examples to calibrate on",
                          fix="Export through kerasforge.export.export_run (it draws them from the run's "
                              "training data), or use --quantize dynamic or float16.")
    target = on_tensorflow(fmt, model, folder, quantize=quantize, save=_save, representative=representative)
    left = float_ops(target)
    if left:
        names = ", ".join(sorted({op for op, _ in left}))
        layers = layers_in_node_paths(" ".join(tensor for _, tensor in left), all_layers(model))
        culprit = f"layer(s) {', '.join(layers)}" if layers else f"tensor(s) {', '.join(t for _, t in left[:4])}"
        raise ExportError(f"the model cannot be fully integer-quantized: op(s) {names} of {culprit} have no int8 "
                          "kernel in LiteRT and would still run in float32",
                          fix="Use --quantize dynamic (int8 weights, float32 activations) or --quantize float16, "
                              "or replace that layer with one LiteRT runs in int8.")
    return target


def _save(model, folder: Path, *, fmt: str = "tflite", quantize: str | None = None,
          representative: np.ndarray | None = None) -> Path:
    import tensorflow as tf

    model, _ = unrolled_recurrent(model)  # LSTM/GRU without TensorList ops: TFLite's built-in ops only

    target = folder / ARTIFACT
    options: dict = {"target_spec": {"supported_ops": {tf.lite.OpsSet.TFLITE_BUILTINS}}}
    if quantize in ("dynamic", "float16", "int8"):
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    if quantize == "int8":
        examples = np.asarray(representative)

        def calibration():
            for i in range(len(examples)):
                yield [examples[i:i + 1]]

        options["representative_dataset"] = calibration
        options["target_spec"]["supported_ops"] = {tf.lite.OpsSet.TFLITE_BUILTINS_INT8}
        options["inference_input_type"] = tf.as_dtype(INT8_IO)  # a float input becomes uint8; word ids stay int32
        options["inference_output_type"] = tf.as_dtype(INT8_IO)
    with _quiet():
        model.export(str(target), format="litert", verbose=False, **options)
    return target


def float_ops(path: Path) -> list[tuple[str, str]]:
    """``(op, output tensor)`` of the ops of ``path`` that compute in float32 (not counting the
    QUANTIZE/DEQUANTIZE ops at the edges): none in a fully integer model."""
    with _quiet():
        runner = interpreter(path)
    ops = getattr(runner, "_get_ops_details", None)
    if ops is None:  # an interpreter without op introspection: nothing to check with
        return []
    tensors = {t["index"]: t for t in runner.get_tensor_details()}
    found = []
    for op in ops():
        if op["op_name"] in _QUANTIZE_OPS:
            continue
        touched = [tensors[i] for i in (*op["inputs"], *op["outputs"]) if i in tensors]
        if any(np.dtype(t["dtype"]) == np.float32 for t in touched):
            out = next((tensors[i]["name"] for i in op["outputs"] if i in tensors), "?")
            found.append((op["op_name"], out))
    return found


def to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """``x`` as the interpreter's input tensor ``detail`` takes it: values given in another type than an
    integer-quantized input's are quantized with its scale and zero point (``round(x / scale) + zero``,
    clipped), anything else is only cast. Raw pixels 0..255 into an int8 export's uint8 input (scale 1, zero
    point 0) are unchanged.

    >>> to_input(np.array([[0.0, 127.6, 300.0]]), {"dtype": np.uint8, "quantization": (1.0, 0)}).tolist()
    [[0, 128, 255]]
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero = (tuple(detail.get("quantization") or ()) + (0.0, 0))[:2]
    if dtype in (np.uint8, np.int8) and scale and np.asarray(x).dtype != dtype:
        bounds = np.iinfo(dtype)
        q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero
        return np.ascontiguousarray(np.clip(q, bounds.min, bounds.max).astype(dtype))
    return np.ascontiguousarray(x, dtype=dtype)


def from_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """An output tensor's values as float32: an integer-quantized output dequantized (``(q - zero) * scale``).

    >>> from_output(np.array([[0, 128, 255]], np.uint8), {"dtype": np.uint8, "quantization": (1 / 256, 0)}).tolist()
    [[0.0, 0.5, 0.99609375]]
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero = (tuple(detail.get("quantization") or ()) + (0.0, 0))[:2]
    if dtype in (np.uint8, np.int8) and scale:
        return ((np.asarray(y, dtype=np.float32) - np.float32(zero)) * np.float32(scale)).astype(np.float32)
    return np.array(y)


def quantization(path: Path) -> dict:
    """The first input's and output's dtype, scale and zero point in ``path``, for the model card."""
    with _quiet():
        runner = interpreter(path)

    def describe(detail: dict) -> dict:
        scale, zero = (tuple(detail.get("quantization") or ()) + (0.0, 0))[:2]
        return {"dtype": np.dtype(detail["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}

    return {"input": describe(runner.get_input_details()[0]), "output": describe(runner.get_output_details()[0])}


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
    """Reload ``folder/model.tflite`` (or a ``.tflite`` file) in the LiteRT interpreter; returns ``predict(x)``
    (one batch per call).

    An int8 export's quantized input and output are handled here: ``x`` is quantized unless it is given in
    the input's own integer type, and the output comes back dequantized (probabilities as float32)."""
    with _quiet():
        runner = interpreter(_artifact(folder))
    (inp,), (out,) = runner.get_input_details(), runner.get_output_details()

    def predict(x: np.ndarray) -> np.ndarray:
        runner.resize_tensor_input(inp["index"], list(x.shape), strict=False)
        runner.allocate_tensors()
        runner.set_tensor(inp["index"], to_input(x, inp))
        runner.invoke()
        return from_output(runner.get_tensor(out["index"]), out)

    return predict


class TFLiteModel:
    """A ``.tflite`` file (or an export folder's ``model.tflite``) behind the part of a Keras model's interface ``kforge predict`` uses: ``inputs[0]``'s
    ``shape``/``dtype`` and ``predict(x)`` (probabilities; an int8 export's quantization applied by
    :func:`load`).

    >>> TFLiteModel(Path("runs/x/exports/tflite-int8")).predict(pixels).shape   # doctest: +SKIP
    (1, 10)
    """

    def __init__(self, path: Path) -> None:
        from types import SimpleNamespace

        self._predict = load(Path(path))
        with _quiet():
            detail = interpreter(_artifact(Path(path))).get_input_details()[0]
        shape = tuple(None if int(d) < 0 else int(d) for d in detail["shape_signature"])
        self.inputs = [SimpleNamespace(shape=(None, *shape[1:]), dtype=np.dtype(detail["dtype"]).name)]

    def predict(self, x: np.ndarray, verbose: int = 0, batch_size: int = 256) -> np.ndarray:
        """The model's output for ``x``, ``batch_size`` examples per interpreter call."""
        return np.concatenate([self._predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _artifact(path: Path) -> Path:
    """``path`` itself when it is a ``.tflite`` file, else the export folder's ``model.tflite``."""
    return path if path.suffix == ".tflite" and path.is_file() else path / ARTIFACT


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
