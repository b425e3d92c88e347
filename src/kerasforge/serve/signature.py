"""A served model's signature: its true input and output tensors, in TF Serving's ``SignatureDef`` JSON form.

Each engine reads the names, dtypes and shapes from its own artifact (the ONNX graph, the SavedModel's
``serving_default`` signature, the LiteRT signature list, the Keras model), so ``/metadata`` and the model
card show what a client of that artifact really sees, not a name chosen by the server.

Example:
    >>> pixels = TensorInfo("pixels", "float32", (None, 28, 28, 1), "serving_default_pixels:0")
    >>> tensor_info_json(pixels)["tensor_shape"]["dim"][0]
    {'size': '-1', 'name': ''}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "int32": "DT_INT32",
          "int64": "DT_INT64", "uint8": "DT_UINT8", "int8": "DT_INT8", "bool": "DT_BOOL", "string": "DT_STRING",
          "object": "DT_STRING"}
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
# The signature names TF Serving clients send for :classify and :regress (also accepted: serving_default).
VERB_SIGNATURES = {"predict": (DEFAULT_SIGNATURE,),
                   "classify": (DEFAULT_SIGNATURE, "tensorflow/serving/classify"),
                   "regress": (DEFAULT_SIGNATURE, "tensorflow/serving/regress")}


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: the key a client uses, dtype, shape (batch first, ``None`` unknown), graph tensor."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    tensor: str

    def describe(self) -> dict[str, Any]:
        """A plain description (for the model card and kforge's own metadata)."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "tensor": self.tensor}


def tensor_info_json(info: TensorInfo) -> dict[str, Any]:
    """``TensorInfo`` as TF Serving writes it in ``GetModelMetadataResponse``."""
    return {"dtype": DTYPES.get(info.dtype, "DT_INVALID"),
            "tensor_shape": {"dim": [{"size": str(-1 if d is None else int(d)), "name": ""} for d in info.shape],
                             "unknown_rank": False},
            "name": info.tensor}


def signature_def_map(inputs: list[TensorInfo], outputs: list[TensorInfo]) -> dict[str, Any]:
    """The ``signature_def`` map: ``serving_default`` with the true inputs and outputs (method predict)."""
    return {DEFAULT_SIGNATURE: {"inputs": {i.name: tensor_info_json(i) for i in inputs},
                                "outputs": {o.name: tensor_info_json(o) for o in outputs},
                                "method_name": PREDICT_METHOD}}


def shape_of(dims: Any) -> tuple[int | None, ...]:
    """A shape from a runtime's dims (ints, ``None``, -1 or symbolic names for unknown sizes).

    >>> shape_of(["batch", 28, -1])
    (None, 28, None)
    """
    sizes = []
    for d in (list(dims) if dims is not None else []):
        try:
            size = int(d)
        except (TypeError, ValueError):  # a symbolic name or None
            size = -1
        sizes.append(size if size >= 0 else None)
    return tuple(sizes)
