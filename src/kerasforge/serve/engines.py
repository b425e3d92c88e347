"""Inference engines: one small interface, one implementation per runtime.

An engine takes a batch of RAW examples (as :mod:`kerasforge.serve.inputs` decodes them: pixels 0..255
in natural layout, word ids, strings) and returns class probabilities ``(n, classes)``.
:class:`OnnxEngine` runs an ONNX export (preprocessing built into the graph) with ONNX Runtime;
:class:`KerasEngine` runs a Keras model, scaling pixels with the run's own training normalisation
(:func:`kerasforge.predict._scale`) unless the model is an export that takes raw inputs already.

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

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int32)": "int32",
               "tensor(int64)": "int64", "tensor(uint8)": "uint8", "tensor(string)": "object",
               "tensor(float16)": "float16"}


class Engine(Protocol):
    """What the server needs from a runtime."""

    name: str
    spec: InputSpec

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, classes)`` for a batch of RAW examples."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the runtime, for the model's metadata."""
        ...


class KerasEngine:
    """A Keras model (loaded with ``safe_mode``); ``raw_inputs=True`` for exports with preprocessing inside."""

    name = "keras"

    def __init__(self, model: Any, spec: InputSpec, *, raw_inputs: bool = False, logits: bool = False) -> None:
        from ..predict import _model_input

        self.model = model
        self.spec = spec
        self.raw_inputs = raw_inputs
        self.logits = logits  # the model emits logits (from_logits: true): softmax/sigmoid applied here
        self._shape, _ = _model_input(model)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for ``x`` (one ``model.predict_on_batch`` call)."""
        from ..data import fit_features
        from ..predict import _probabilities, _scale

        if self.spec.kind == "image" and not self.raw_inputs:
            x = _scale(x.astype("float32"), {"preprocessing": self.spec.preprocessing})
        if self._shape:
            x = fit_features(x, self._shape, where="instances")
        n = len(x)
        out = _probabilities(self.model.predict_on_batch(_pad_to_bucket(x)), logits=self.logits)
        return out[:n].astype("float32")

    def versions(self) -> dict[str, str]:
        import keras

        return {"keras": keras.__version__, "backend": keras.backend.backend()}


class OnnxEngine:
    """An ONNX model run by ONNX Runtime on the CPU (input: RAW examples, output: probabilities)."""

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
        self._shape = tuple(d if isinstance(d, int) else None for d in first.shape[1:])
        self._output = self.session.get_outputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for ``x`` (one ``session.run`` call)."""
        from ..data import fit_features
        from ..predict import _probabilities

        if self._shape and tuple(x.shape[1:]) != self._shape:
            x = fit_features(x, self._shape, where="instances")
        x = np.ascontiguousarray(x, dtype=self._dtype)
        out = self.session.run([self._output], {self._input: x})[0]
        return _probabilities(out).astype("float32")

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}


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
