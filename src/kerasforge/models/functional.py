"""The functional API from a :class:`~kerasforge.recipe.FunctionalModelSpec`: named inputs, layers wired
by name, one or several outputs.

Example:
    >>> from kerasforge.recipe import FunctionalModelSpec
    >>> spec = FunctionalModelSpec(
    ...     inputs={"a": [32], "b": [64]},
    ...     layers=[{"type": "Concatenate", "inputs": ["a", "b"]}, {"type": "Dense", "units": 1}])
    >>> build_functional(spec, {"a": (32,), "b": (64,)}).output_shape
    (None, 1)
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError, did_you_mean
from ..recipe import FunctionalModelSpec, NodeSpec
from .layers import apply_layer, first_line, make_layer


def build_functional(spec: FunctionalModelSpec, input_shape: tuple | dict[str, tuple], *,
                     name: str = "model", where: str = "model", input_dtype: str = "float32") -> Any:
    """Wire ``spec.layers`` into a ``keras.Model``; every wiring mistake is a ModelError with its YAML path."""
    import keras

    shapes = input_shapes(spec, input_shape, where=where)
    tensors: dict[str, Any] = {
        input_name: keras.Input(shape=shape, name=input_name, dtype=_dtype(spec, input_name, input_dtype))
        for input_name, shape in shapes.items()
    }
    inputs = dict(tensors)
    previous: str | None = next(iter(tensors)) if len(tensors) == 1 else None
    for i, (node, node_name) in enumerate(zip(spec.layers, node_names(spec, where=where), strict=True)):
        at = f"{where}.layers[{i}]"
        layer = make_layer({"type": node.type, **node.kwargs, "name": node_name}, where=at)
        feeds = _feeds(node, previous, tensors, at)
        tensors[node_name] = apply_layer(layer, feeds, where=at, type_name=node.type)
        previous = node_name
    outputs = _outputs(spec, tensors, previous, where)
    model_inputs: Any = inputs if isinstance(input_shape, dict) or len(inputs) > 1 else next(iter(inputs.values()))
    try:
        return keras.Model(model_inputs, outputs, name=spec.name or name)
    except ValueError as exc:
        raise ModelError(f"the layers do not form one model: {first_line(exc)}", where=where,
                         fix="Check that every input reaches an output through `inputs` links.") from None


def input_shapes(spec: FunctionalModelSpec, data_shape: tuple | dict[str, tuple], *, where: str) -> dict[str, tuple]:
    """Input name → shape: ``spec.inputs`` checked against the data, or one input per data view."""
    if spec.inputs is None:
        if isinstance(data_shape, dict):
            return {view: tuple(shape) for view, shape in data_shape.items()}
        return {"input": tuple(data_shape)}
    declared = {input_name: tuple(s.shape) for input_name, s in spec.inputs.items()}
    if isinstance(data_shape, dict):
        missing = [v for v in data_shape if v not in declared]
        extra = [n for n in declared if n not in data_shape]
        if missing or extra:
            hint = did_you_mean(extra[0], data_shape) if extra else ""
            raise ModelError(
                f"the model's inputs ({', '.join(declared)}) do not match the data's views "
                f"({', '.join(data_shape)}).{hint}",
                where=f"{where}.inputs" + (f".{extra[0]}" if extra else ""),
                fix="Name one input after each view under `data.views`: "
                    + ", ".join(f"{v}: {list(s)}" for v, s in data_shape.items()) + ".",
            )
        for view, shape in data_shape.items():
            _check_shape(declared[view], tuple(shape), f"{where}.inputs.{view}", f"view {view!r}")
    elif len(declared) > 1:
        raise ModelError(
            f"the model has {len(declared)} inputs ({', '.join(declared)}) but the data has one feature array",
            where=f"{where}.inputs",
            fix="Split the features into named views with `data.views` (one per input), or keep one input.",
        )
    else:
        (only, shape), = declared.items()
        _check_shape(shape, tuple(data_shape), f"{where}.inputs.{only}", "example")
    return declared


def node_names(spec: FunctionalModelSpec, *, where: str) -> list[str]:
    """Each node's name (also its Keras layer name): its ``name`` kwarg or ``layer_<i>``; duplicates are an error."""
    taken = set(spec.inputs or {"input": None})
    names = []
    for i, node in enumerate(spec.layers):
        node_name = str(node.kwargs.get("name") or f"layer_{i}")
        if node_name in taken:
            raise ModelError(f"the name {node_name!r} is used twice", where=f"{where}.layers[{i}].name",
                             fix="Give every input and layer its own name.")
        taken.add(node_name)
        names.append(node_name)
    return names


def references(spec: FunctionalModelSpec, *, where: str) -> None:
    """Check, without data, that every ``inputs`` and ``outputs`` name refers to an input or earlier node."""
    known = list(spec.inputs or {"input": None})
    previous: str | None = known[0] if len(known) == 1 else None
    for i, (node, node_name) in enumerate(zip(spec.layers, node_names(spec, where=where), strict=True)):
        _feeds(node, previous, dict.fromkeys(known), f"{where}.layers[{i}]")
        known.append(node_name)
        previous = node_name
    _outputs(spec, dict.fromkeys(known), previous, where)


# ---------------------------------------------------------------------------------------------------
def _feeds(node: NodeSpec, previous: str | None, tensors: dict[str, Any], at: str) -> Any:
    if node.inputs is None:
        if previous is None:
            raise ModelError(
                f"the model has several inputs ({', '.join(tensors)}), so the first layer must say which it takes",
                where=f"{at}.inputs",
                fix=f"Add `inputs: {list(tensors)}` (a list for a merge layer such as Concatenate) or one name.",
            )
        return tensors[previous]
    names = [node.inputs] if isinstance(node.inputs, str) else list(node.inputs)
    for j, ref in enumerate(names):
        if ref not in tensors:
            index = f"[{j}]" if not isinstance(node.inputs, str) else ""
            raise ModelError(
                f"{ref!r} is not an input or an earlier layer.{did_you_mean(ref, tensors)}",
                where=f"{at}.inputs{index}",
                fix=f"Use one of: {', '.join(tensors)} (layers can only take inputs defined above them).",
            )
    if len(names) == 1:
        return tensors[names[0]]
    return [tensors[n] for n in names]


def _outputs(spec: FunctionalModelSpec, tensors: dict[str, Any], last: str | None, where: str) -> Any:
    if spec.outputs is None:
        return tensors[last]
    names = [spec.outputs] if isinstance(spec.outputs, str) else list(spec.outputs)
    for j, ref in enumerate(names):
        if ref not in tensors:
            index = f"[{j}]" if not isinstance(spec.outputs, str) else ""
            raise ModelError(f"{ref!r} is not a layer of this model.{did_you_mean(ref, tensors)}",
                             where=f"{where}.outputs{index}",
                             fix=f"Name layers here; the layers are: {', '.join(list(tensors)[-8:])}.")
    return tensors[names[0]] if len(names) == 1 else [tensors[n] for n in names]


def _check_shape(declared: tuple, data: tuple, where: str, what: str) -> None:
    fits = len(declared) == len(data) and all(d is None or d == s for d, s in zip(declared, data, strict=True))
    if not fits:
        raise ModelError(f"is declared as {list(declared)} but one {what} of the data has shape {list(data)}",
                         where=where, fix=f"Set it to {list(data)} (or leave `shape` to the data).")


def _dtype(spec: FunctionalModelSpec, input_name: str, default: str) -> str:
    declared = spec.inputs[input_name].dtype if spec.inputs and input_name in spec.inputs else None
    return declared or default
