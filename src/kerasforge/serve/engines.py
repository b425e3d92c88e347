"""Inference engines: one small interface, one implementation per runtime (the right one per export format).

An engine takes a batch of RAW examples (as :mod:`kerasforge.serve.inputs` decodes them: pixels 0..255
in natural layout, word ids, strings) and returns the model's output ``(n, units)`` as the artifact gives
it (probabilities for kerasforge's exports). ``inputs``/``outputs`` are the artifact's true tensors.

- :class:`OnnxEngine`: ``model.onnx`` with ONNX Runtime.
- :class:`SavedModelEngine`: a SavedModel's ``serving_default`` signature with TensorFlow (as TF Serving).
- :class:`TFLiteEngine`: ``model.tflite`` in the LiteRT interpreter.
- :class:`KerasEngine`: ``.keras``/``.h5`` exports (raw inputs), or a run's trained model, whose pixels
  are scaled with the run's own training normalisation (:func:`kerasforge.predict._scale`).

Example:
    >>> engine = OnnxEngine("runs/x/exports/onnx/model.onnx", spec)   # doctest: +SKIP
    >>> engine.predict(np.zeros((2, 28, 28, 1), "float32")).shape      # doctest: +SKIP
    (2, 10)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .inputs import InputSpec
from .signature import TensorInfo, shape_of

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int32)": "int32",
               "tensor(int64)": "int64", "tensor(uint8)": "uint8", "tensor(string)": "string",
               "tensor(float16)": "float16"}


class Engine(Protocol):
    """What the server needs from a runtime."""

    name: str
    spec: InputSpec
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's first output ``(n, units)`` for a batch of RAW examples."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the runtime, for the model's metadata."""
        ...


def _raw_input(name: str, spec: InputSpec, tensor: str | None = None) -> TensorInfo:
    return TensorInfo(name, spec.dtype, (None, *spec.shape), tensor or name)


class KerasEngine:
    """A Keras model (loaded with ``safe_mode``); ``raw_inputs=True`` for exports with preprocessing inside."""

    name = "keras"

    def __init__(self, model: Any, spec: InputSpec, *, raw_inputs: bool = False, logits: bool = False,
                 logit_outputs: tuple[str, ...] = ()) -> None:
        from ..predict import _model_input

        self.model = model
        self.spec = spec
        self.raw_inputs = raw_inputs
        self.logits = logits  # the model emits logits (from_logits: true): softmax/sigmoid applied here
        self._shape, _ = _model_input(model)
        input_name = getattr((getattr(model, "inputs", None) or [None])[0], "name", None) or "input"
        self.inputs = [_raw_input(str(input_name), spec)]
        out = (getattr(model, "outputs", None) or [None])[0]
        names = list(getattr(model, "output_names", None) or []) or ["output_0"]
        self.outputs = [TensorInfo(str(names[0]), "float32", shape_of(getattr(out, "shape", (None, None))),
                                   str(names[0]))]
        from .outputs import columns_of

        self.output_columns = columns_of(model)  # several outputs: predict gives them side by side
        self.logit_outputs = tuple(logit_outputs)  # ... those that emit logits made probabilities
        if self.output_columns:
            self.outputs = [TensorInfo(str(n), "float32", shape_of(t.shape), str(n))
                            for n, t in zip(names, model.outputs, strict=False)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x`` (one ``model.predict_on_batch`` call)."""
        from ..data import fit_features
        from ..predict import _scale

        pre = self.spec.preprocessing
        if self.spec.kind == "image" and not self.raw_inputs:
            x = _scale(x.astype("float32"), {"preprocessing": pre})
        elif self.spec.kind == "tabular" and not self.raw_inputs and "offset" in pre and "divisor" in pre:
            # the training's own feature scaling (exports have it inside; a run's model does not)
            x = (x.astype("float32") - np.asarray(pre["offset"], "float32")) / np.asarray(pre["divisor"], "float32")
        if self._shape:
            x = fit_features(x, self._shape, where="instances")
        n = len(x)
        if self.output_columns:  # every output, side by side (serve/outputs.py names them in the answer)
            from .outputs import side_by_side

            return side_by_side(self.model.predict_on_batch(_pad_to_bucket(x)), self.output_columns,
                                self.logit_outputs)[:n]
        out = _first(self.model.predict_on_batch(_pad_to_bucket(x)))[:n]
        return _activate(out) if self.logits else out

    def versions(self) -> dict[str, str]:
        import keras

        return {"keras": keras.__version__, "backend": keras.backend.backend()}


class OnnxEngine:
    """An ONNX model run by ONNX Runtime on the CPU (input: RAW examples)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, spec: InputSpec, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread, no spin-waiting: the server's event loop needs the other core, and ONNX Runtime's
        # idle threads otherwise spin for milliseconds after every call (measured: benchmarks/RESULTS.md).
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.path = Path(path)
        self.spec = spec
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self._input = first.name
        self._dtype = _ORT_DTYPES.get(first.type, "float32")
        self._shape = shape_of(first.shape)[1:]
        self._output = self.session.get_outputs()[0].name
        self.inputs = [TensorInfo(t.name, _ORT_DTYPES.get(t.type, "float32"), shape_of(t.shape), t.name)
                       for t in self.session.get_inputs()]
        self.outputs = [TensorInfo(t.name, _ORT_DTYPES.get(t.type, "float32"), shape_of(t.shape), t.name)
                        for t in self.session.get_outputs()]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x`` (one ``session.run`` call)."""
        from ..data import fit_features

        if self._shape and None not in self._shape and tuple(x.shape[1:]) != self._shape:
            x = fit_features(x, self._shape, where="instances")
        x = np.ascontiguousarray(x, dtype=object if self._dtype == "string" else self._dtype)
        return self.session.run([self._output], {self._input: x})[0]

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}


class SavedModelEngine:
    """A SavedModel's ``serving_default`` signature, run by TensorFlow as TF Serving runs it."""

    name = "tensorflow"

    def __init__(self, path: str | Path, spec: InputSpec) -> None:
        import tensorflow as tf

        self.path = Path(path)
        self.spec = spec
        self._loaded = tf.saved_model.load(str(self.path))  # owns the variables: kept alive here
        self._fn = self._loaded.signatures["serving_default"]
        tensors = _saved_model_tensor_names(self.path)
        specs = self._fn.structured_input_signature[1]
        self.inputs = [TensorInfo(k, _tf_dtype(v.dtype), shape_of(v.shape.as_list()), tensors.get(("in", k), k))
                       for k, v in sorted(specs.items())]
        self.outputs = [TensorInfo(k, _tf_dtype(v.dtype), shape_of(v.shape.as_list()), tensors.get(("out", k), k))
                        for k, v in sorted(self._fn.structured_outputs.items())]
        self._input, self._output = self.inputs[0].name, self.outputs[0].name
        self._tf = tf

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x`` (one call of the ``serving_default`` signature)."""
        tf = self._tf
        value = tf.constant(x.astype(str).tolist()) if x.dtype == object else tf.constant(
            x, dtype=tf.as_dtype(self.inputs[0].dtype if self.inputs[0].dtype != "string" else "string"))
        return self._fn(**{self._input: value})[self._output].numpy()

    def versions(self) -> dict[str, str]:
        return {"tensorflow": self._tf.__version__}


class TFLiteEngine:
    """A ``model.tflite`` in the LiteRT interpreter (one batch at a time, resized to the batch)."""

    name = "litert"

    def __init__(self, path: str | Path, spec: InputSpec) -> None:
        from ..export.tflite import from_output, interpreter, to_input

        self._to_input, self._from_output = to_input, from_output
        self.path = Path(path)
        self.spec = spec
        self.runner = interpreter(self.path)
        self.runner.allocate_tensors()
        (self._in,), self._outs = self.runner.get_input_details(), self.runner.get_output_details()
        signature = (self.runner.get_signature_list() or {}).get("serving_default") or {}
        in_names = signature.get("inputs") or [self._in["name"]]
        out_names = signature.get("outputs") or [d["name"] for d in self._outs]
        self._out = self._outs[0]
        self.inputs = [TensorInfo(in_names[0], np.dtype(self._in["dtype"]).name,
                                  (None, *shape_of(self._in["shape_signature"])[1:]), self._in["name"])]
        self.outputs = [TensorInfo(name, _served_dtype(d), (None, *shape_of(d["shape_signature"])[1:]),
                                   d["name"]) for name, d in zip(out_names, self._outs, strict=False)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x`` (the interpreter resized to this batch; an integer-quantized input and output
        quantized and dequantized with their scale and zero point)."""
        runner = self.runner
        if tuple(runner.get_input_details()[0]["shape"]) != x.shape:
            runner.resize_tensor_input(self._in["index"], list(x.shape), strict=False)
            runner.allocate_tensors()
        runner.set_tensor(self._in["index"], self._to_input(x, self._in))  # an int8 export's input quantized
        runner.invoke()
        return self._from_output(runner.get_tensor(self._out["index"]), self._out)  # ... and its output dequantized

    def versions(self) -> dict[str, str]:
        """From the installed packages' metadata: importing TensorFlow here would block the server."""
        from importlib import metadata

        found = {}
        for package in ("ai-edge-litert", "tensorflow-cpu", "tensorflow"):
            try:
                found[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                continue
        return found


def _served_dtype(detail: dict) -> str:
    """An output's type as served: an integer-quantized (int8 export's) output is answered dequantized."""
    scale = (tuple(detail.get("quantization") or ()) + (0.0,))[0]
    dtype = np.dtype(detail["dtype"])
    return "float32" if dtype in (np.uint8, np.int8) and scale else dtype.name


def _activate(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (sigmoid for one unit): a ``from_logits`` model's output made
    probabilities once, as its exports do; the shape is kept."""
    z = np.asarray(logits, dtype="float64")
    if z.shape[-1] == 1:
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype("float32")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype("float32")


def _first(raw: Any) -> np.ndarray:
    if isinstance(raw, dict):
        raw = next(iter(raw.values()))
    if isinstance(raw, list | tuple):
        raw = raw[0]
    return np.asarray(raw)


def _tf_dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", str(dtype))
    return "string" if name == "string" else name


def _saved_model_tensor_names(path: Path) -> dict[tuple[str, str], str]:
    """``{("in"|"out", key): graph tensor name}`` of ``serving_default``, read from ``saved_model.pb``."""
    try:
        from tensorflow.core.protobuf import saved_model_pb2

        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        signature = proto.meta_graphs[0].signature_def["serving_default"]
    except Exception:  # names are informative only: the keys still work
        return {}
    return {**{("in", k): v.name for k, v in signature.inputs.items()},
            **{("out", k): v.name for k, v in signature.outputs.items()}}


def _pad_to_bucket(x: np.ndarray) -> np.ndarray:
    """``x`` padded to the next power of two rows, so that batches of any size reuse a few traced graphs.

    >>> _pad_to_bucket(np.ones((5, 2))).shape
    (8, 2)
    """
    n = len(x)
    size = 1 << max(0, (n - 1).bit_length())
    if size == n:
        return x
    filler = np.full((size - n, *x.shape[1:]), "" if x.dtype == object else 0, dtype=x.dtype)
    return np.concatenate([x, filler])


def spec_from_info(info: dict[str, Any]) -> InputSpec:
    """The RAW input of a model from its run's ``data.json`` (or an export's model card).

    >>> spec_from_info({"kind": "image", "input_shape": [28, 28, 1]}).shape
    (28, 28, 1)
    """
    kind = info.get("kind") or "tabular"
    shape = info.get("input_shape") or info.get("model_input_shape") or []
    if isinstance(shape, dict):  # several named inputs: served through their first one
        shape = next(iter(shape.values()))
    dtype = {"text": "string", "sequence": "int32"}.get(kind, "float32")
    return InputSpec(kind=kind, shape=tuple(None if d is None else int(d) for d in shape), dtype=dtype,
                     preprocessing=dict(info.get("preprocessing") or {}))
