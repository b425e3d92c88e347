"""Layers from recipe entries: a Keras class name (or ``module:Name``) plus kwargs → a ``keras.layers.Layer``.

Kwargs are passed to Keras as written, except where YAML cannot spell the Python object Keras wants:

* ``*_regularizer``: ``l2``, ``{l2: 0.01}``, ``{l1: 0.01, l2: 0.01}`` or ``{type: L1L2, l1: ..., l2: ...}``;
* ``*_initializer`` / ``*_constraint``: a name (``he_normal``, ``max_norm``), ``{type: ..., ...}`` or,
  for initializers, a number (a constant);
* ``layer`` / ``backward_layer`` (``Bidirectional``, ``TimeDistributed``): a nested layer entry
  ``{type: LSTM, units: 64}``.

Example:
    >>> from kerasforge.models.layers import make_layer
    >>> layer = make_layer({"type": "Dense", "units": 4, "kernel_regularizer": {"l2": 0.01}},
    ...                    where="model.layers[0]")
    >>> type(layer).__name__, type(layer.kernel_regularizer).__name__
    ('Dense', 'L2')
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

from ..errors import ModelError, did_you_mean
from ..recipe import LayerSpec
from ..references import is_reference, load_reference

# Keyword arguments every Keras layer takes (``keras.layers.Layer.__init__`` and what it pops from **kwargs).
BASE_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer", "input_shape",
                     "input_dim")
NESTED_LAYER_KWARGS = ("layer", "backward_layer")
_SHORT_REGULARIZERS = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "l1l2": "L1L2", "orthogonal": "OrthogonalRegularizer"}


@functools.cache
def keras_layer_names() -> dict[str, type]:
    """Every public ``keras.layers`` class by its name (``{"Dense": keras.layers.Dense, ...}``)."""
    import keras

    names = {}
    for name in dir(keras.layers):
        obj = getattr(keras.layers, name)
        if name[:1].isupper() and inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
            names[name] = obj
    return names


def resolve_layer_class(type_name: str, *, where: str) -> type:
    """The layer class named ``type_name``: a ``keras.layers`` name or ``module:Name`` of the user's own.

    >>> resolve_layer_class("Conv2D", where="model.layers[0]").__name__
    'Conv2D'
    """
    import keras

    if is_reference(type_name):
        obj = load_reference(type_name, where=f"{where}.type", error=ModelError)
        if not (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)):
            raise ModelError(
                f"{type_name!r} is {_describe(obj)}, not a keras.layers.Layer subclass",
                where=f"{where}.type",
                fix="Point 'type' at a class that subclasses keras.layers.Layer; whole models go under "
                    "`model: {ref: module:Name}` instead.",
            )
        return obj
    known = keras_layer_names()
    if type_name in known:
        return known[type_name]
    if type_name in ("Input", "input"):
        raise ModelError(
            "an Input is not a layer to list here",
            where=f"{where}.type",
            fix="Remove it: the input shape comes from the data (or `model.input_shape`); functional "
                "models name theirs under `model.inputs`.",
        )
    same_case = [n for n in known if n.lower() == type_name.lower()]
    hint = (f" Did you mean {' or '.join(map(repr, same_case))}?" if same_case
            else did_you_mean(type_name, known))
    raise ModelError(
        f"unknown layer type {type_name!r}.{hint}",
        where=f"{where}.type",
        fix="Use a keras.layers class name with Keras' exact spelling (Dense, Conv2D, LSTM, "
            "GlobalAveragePooling2D...), or 'module:ClassName' for a layer of your own.",
    )


def layer_parameters(cls: type) -> list[str]:
    """The keyword arguments ``cls`` accepts: its own ``__init__`` parameters, its bases', and Keras'."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names += [n for n in BASE_LAYER_KWARGS if n not in names]
    return list(dict.fromkeys(names))


def make_layer(spec: LayerSpec | dict[str, Any] | str, *, where: str) -> Any:
    """A new layer for one recipe entry; every user-fixable problem is a :class:`ModelError` naming ``where``.

    >>> make_layer("Flatten", where="model.layers[0]").__class__.__name__
    'Flatten'
    """
    type_name, raw_kwargs = _split(spec, where)
    cls = resolve_layer_class(type_name, where=where)
    allowed = layer_parameters(cls)
    for key in raw_kwargs:
        if key not in allowed:
            raise ModelError(
                f"{type_name} has no argument {key!r}.{did_you_mean(key, allowed)}",
                where=f"{where}.{key}",
                fix=f"Arguments of {type_name}: {', '.join(allowed)}.",
            )
    kwargs = {key: convert_kwarg(key, value, where=f"{where}.{key}") for key, value in raw_kwargs.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _construction_error(exc, type_name, kwargs, allowed, where) from None


def convert_kwarg(key: str, value: Any, *, where: str) -> Any:
    """Turn a YAML value into what Keras wants for argument ``key`` (regularizers, initializers...).

    >>> type(convert_kwarg("kernel_regularizer", {"l1": 0.01, "l2": 0.01}, where="x")).__name__
    'L1L2'
    """
    import keras

    if value is None:
        return None
    if key in NESTED_LAYER_KWARGS and isinstance(value, dict | str | LayerSpec):
        return make_layer(value, where=where)
    if key.endswith("_regularizer"):
        return _regularizer(value, where)
    if key.endswith("_initializer"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return keras.initializers.Constant(value)
        return _keras_object(keras.initializers, value, where, "initializer",
                             "a name such as he_normal or glorot_uniform, or {type: RandomNormal, stddev: 0.05}")
    if key.endswith("_constraint"):
        return _keras_object(keras.constraints, value, where, "constraint",
                             "a name such as max_norm or non_neg, or {type: MaxNorm, max_value: 3}")
    if key == "activation" or key.endswith("_activation"):
        return _activation(value, where)
    return value


# ---------------------------------------------------------------------------------------------------
def _split(spec: LayerSpec | dict[str, Any] | str, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, LayerSpec):
        kwargs = dict(spec.kwargs)
        kwargs.pop("inputs", None)
        return spec.type, kwargs
    if isinstance(spec, dict):
        if "type" not in spec:
            raise ModelError(f"needs a 'type' key naming the layer class; got keys {', '.join(map(str, spec))}",
                             where=where, fix="Write it like {type: Dense, units: 10}.")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        return str(spec["type"]), kwargs
    raise ModelError(f"a layer must be a name or a mapping with 'type', got {type(spec).__name__}",
                     where=where, fix="Write it like {type: Dense, units: 10} or just Flatten.")


def _regularizer(value: Any, where: str) -> Any:
    import keras

    spec: Any = value
    if isinstance(value, str) and value.lower() in _SHORT_REGULARIZERS:
        spec = _SHORT_REGULARIZERS[value.lower()]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        raise ModelError(f"a bare number ({value}) does not say which penalty to use", where=where,
                         fix=f"Write {{l2: {value}}} (or {{l1: {value}}}, or both).")
    elif isinstance(value, dict) and "type" not in value:
        unknown = [k for k in value if k not in ("l1", "l2")]
        if unknown:
            raise ModelError(f"unknown regularizer setting {unknown[0]!r}.{did_you_mean(unknown[0], ['l1', 'l2'])}",
                             where=where, fix="Use {l2: 0.01}, {l1: 0.01} or {l1: 0.01, l2: 0.01}.")
        if set(value) == {"l2"}:
            return keras.regularizers.L2(value["l2"])
        if set(value) == {"l1"}:
            return keras.regularizers.L1(value["l1"])
        return keras.regularizers.L1L2(l1=value.get("l1", 0.0), l2=value.get("l2", 0.0))
    elif isinstance(value, dict) and str(value["type"]).lower() in _SHORT_REGULARIZERS:
        spec = {**value, "type": _SHORT_REGULARIZERS[str(value["type"]).lower()]}
    return _keras_object(keras.regularizers, spec, where, "regularizer",
                         "l2, {l2: 0.01}, {l1: 0.01, l2: 0.01} or {type: L2, l2: 0.01}")


def _keras_object(module: Any, value: Any, where: str, what: str, examples: str) -> Any:
    if isinstance(value, dict):
        if "type" not in value:
            raise ModelError(f"a {what} given as a mapping needs a 'type' key", where=where,
                             fix=f"Use {examples}.")
        type_name = str(value["type"])
        config = {k: v for k, v in value.items() if k != "type"}
        if is_reference(type_name):
            cls = load_reference(type_name, where=f"{where}.type", error=ModelError)
            return _call(cls, config, where, what, examples)
        cls = getattr(module, type_name, None)
        if not inspect.isclass(cls):
            raise ModelError(f"unknown {what} {type_name!r}.{did_you_mean(type_name, _classes(module))}",
                             where=f"{where}.type", fix=f"Use {examples}.")
        return _call(cls, config, where, what, examples)
    if isinstance(value, str) and is_reference(value):
        obj = load_reference(value, where=where, error=ModelError)
        return obj() if inspect.isclass(obj) else obj
    try:
        return module.get(value)
    except (TypeError, ValueError):
        names = _classes(module) + [n for n in dir(module) if n.islower() and not n.startswith("_")]
        raise ModelError(f"unknown {what} {value!r}.{did_you_mean(str(value), names)}", where=where,
                         fix=f"Use {examples}.") from None


def _call(cls: type, config: dict[str, Any], where: str, what: str, examples: str) -> Any:
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        params = [p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs")]
        bad = _kwarg_in_message(str(exc), config)
        hint = did_you_mean(bad, params) if bad else ""
        raise ModelError(f"{cls.__name__} {what} cannot be made from {config}: {first_line(exc)}{hint}",
                         where=f"{where}.{bad}" if bad else where,
                         fix=f"Its arguments: {', '.join(params) or 'none'}; see {examples}.") from None


def _activation(value: Any, where: str) -> Any:
    import keras

    if not isinstance(value, str):
        return value
    if is_reference(value):
        from ..reference_kinds import expect

        return expect(value, load_reference(value, where=where, error=ModelError), "activation", where=where,
                      error=ModelError)
    try:
        keras.activations.get(value)
    except (TypeError, ValueError):
        names = [n for n in dir(keras.activations) if n.islower() and not n.startswith("_")
                 and n not in ("get", "serialize", "deserialize")]
        raise ModelError(f"unknown activation {value!r}.{did_you_mean(value, names)}", where=where,
                         fix=f"Use one of: {', '.join(names)}.") from None
    return value


def _construction_error(exc: Exception, type_name: str, kwargs: dict[str, Any], allowed: list[str],
                        where: str) -> ModelError:
    message = first_line(exc)
    missing = re.search(r"missing \d+ required (?:positional|keyword-only) arguments?: (.+)$", message)
    if missing:
        names = re.findall(r"'(\w+)'", missing.group(1))
        return ModelError(f"{type_name} needs {' and '.join(map(repr, names))}, which is not given",
                          where=where, fix=f"Add {', '.join(f'{n}: ...' for n in names)} to this layer.")
    unexpected = re.search(r"unexpected keyword argument '(\w+)'|Unrecognized keyword arguments .*?\{'(\w+)'",
                           message)
    if unexpected:
        bad = unexpected.group(1) or unexpected.group(2)
        return ModelError(f"{type_name} has no argument {bad!r}.{did_you_mean(bad, allowed)}",
                          where=f"{where}.{bad}", fix=f"Arguments of {type_name}: {', '.join(allowed)}.")
    bad = _kwarg_in_message(message, kwargs)
    return ModelError(f"{type_name} rejects its arguments: {message}",
                      where=f"{where}.{bad}" if bad else where,
                      fix=f"Change {bad!r} to a value {type_name} accepts." if bad
                      else f"Check this layer's arguments against Keras' {type_name} documentation.")


def _kwarg_in_message(message: str, kwargs: dict[str, Any]) -> str | None:
    for key in sorted(kwargs, key=len, reverse=True):
        if re.search(rf"`{re.escape(key)}`|\b{re.escape(key)}=|'{re.escape(key)}'", message):
            return key
    return None


def _classes(module: Any) -> list[str]:
    return [n for n in dir(module) if n[:1].isupper() and inspect.isclass(getattr(module, n))]


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    if callable(obj):
        return f"the function {getattr(obj, '__name__', repr(obj))}"
    return f"a {type(obj).__name__}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, ending as a sentence (it is followed by our fix)."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if line.endswith((".", "!", "?")) else line + "."


def apply_layer(layer: Any, inputs: Any, *, where: str, type_name: str | None = None) -> Any:
    """Call ``layer`` on symbolic ``inputs``; a shape or dtype mismatch becomes a :class:`ModelError`."""
    try:
        return layer(inputs)
    except (TypeError, ValueError, NotImplementedError) as exc:
        shapes = _shapes_of(inputs)
        name = type_name or type(layer).__name__
        raise ModelError(
            f"{name} cannot take an input of shape {shapes}: {first_line(exc)}",
            where=where,
            fix=_shape_fix(name, inputs),
        ) from None


def _shapes_of(inputs: Any) -> str:
    if isinstance(inputs, list | tuple):
        return "[" + ", ".join(_shapes_of(t) for t in inputs) + "]"
    return str(tuple(getattr(inputs, "shape", ())))


def _shape_fix(name: str, inputs: Any) -> str:
    rank = len(getattr(inputs, "shape", ())) if not isinstance(inputs, list | tuple) else None
    if name.startswith("Conv2D") or name.endswith("Pooling2D"):
        if rank == 3:
            return ("It needs images (batch, height, width, channels) but gets 2-D examples: add "
                    "{type: Reshape, target_shape: [H, W, 1]} before it, or use Conv1D.")
        if rank == 2:
            return "It needs images but gets flat vectors: remove the Flatten before it, or use Dense layers."
    if name.startswith(("LSTM", "GRU", "SimpleRNN", "Conv1D")) and rank == 2:
        return "It needs sequences (batch, steps, features): put an Embedding (for token ids) or a Reshape before it."
    if name in ("Concatenate", "Add", "Multiply", "Average", "Subtract", "Maximum", "Minimum", "Dot"):
        return ("Merge layers take a list of inputs with compatible shapes: check `inputs` lists at least two "
                "names and that their shapes agree (Flatten them first if needed).")
    return "Check the shape the previous layer produces (model summary) against what this layer expects."
