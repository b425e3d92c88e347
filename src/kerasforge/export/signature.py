"""The true input and output names of a written artifact, for its model card.

Each runtime names tensors its own way (ONNX: the graph's names; SavedModel: the ``serving_default``
keys, e.g. ``output_0``, over graph tensors such as ``serving_default_pixels:0``; LiteRT: signature keys
over ``StatefulPartitionedCall_1:0``; Keras: layer names). A client of the artifact needs those, so the
card records them as read back from the artifact itself.

Example:
    >>> artifact_names("onnx", Path("runs/x/exports/onnx"), model)   # doctest: +SKIP
    {'input': {'name': 'pixels', 'tensor': 'pixels'}, 'output': {'name': 'output_0', 'tensor': 'output_0'}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def artifact_names(fmt: str, folder: Path, model: Any) -> dict[str, dict[str, str]]:
    """``{"input": {name, tensor}, "output": {name, tensor}}`` of the artifact in ``folder`` ({} if unreadable)."""
    try:
        reader = {"onnx": _onnx, "savedmodel": _savedmodel, "tflite": _tflite}.get(fmt, _keras)
        (in_name, in_tensor), (out_name, out_tensor) = reader(folder, model)
    except Exception:  # informative only: a card without names is still a valid card
        return {}
    return {"input": {"name": in_name, "tensor": in_tensor}, "output": {"name": out_name, "tensor": out_tensor}}


def _onnx(folder: Path, model: Any) -> tuple:
    import onnx

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    first_in = next(i.name for i in graph.input if i.name not in initializers)
    return (first_in, first_in), (graph.output[0].name, graph.output[0].name)


def _savedmodel(folder: Path, model: Any) -> tuple:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model" / "saved_model.pb").read_bytes())
    signature = proto.meta_graphs[0].signature_def["serving_default"]
    (in_key, in_info), = sorted(signature.inputs.items())[:1]
    (out_key, out_info), = sorted(signature.outputs.items())[:1]
    return (in_key, in_info.name), (out_key, out_info.name)


def _tflite(folder: Path, model: Any) -> tuple:
    from .tflite import interpreter

    runner = interpreter(folder / "model.tflite")
    signature = (runner.get_signature_list() or {}).get("serving_default") or {}
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    return ((signature.get("inputs") or [inp["name"]])[0], inp["name"]), \
        ((signature.get("outputs") or [out["name"]])[0], out["name"])


def _keras(folder: Path, model: Any) -> tuple:
    in_name = model.inputs[0].name
    out_name = (list(getattr(model, "output_names", None) or []) or ["output_0"])[0]
    return (in_name, in_name), (out_name, out_name)
