"""Absurd layer sizes are refused before any weight is allocated: a lower bound of the model's parameter
count, from the layers' own sizes (``units``, ``filters``, ``kernel_size``, ``input_dim``/``output_dim``) and,
when known, the data's shape, must fit in memory.

Example:
    >>> from kerasforge.recipe import SequentialModelSpec
    >>> spec = SequentialModelSpec(layers=["Flatten", {"type": "Dense", "units": 10 ** 12}])
    >>> check_model_size(spec, (8, 8, 1))
    Traceback (most recent call last):
    ...
    kerasforge.errors.ModelError: model.layers[1]: Dense needs at least 64,000,000,000,000 parameters ...
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import ModelError

BYTES_PER_PARAMETER = 4 * 4  # float32 weights plus their gradient and two Adam moments


def memory_budget() -> int:
    """Bytes a model's parameters may take: half the machine's memory (``$KFORGE_MAX_MODEL_BYTES`` overrides)."""
    override = os.environ.get("KFORGE_MAX_MODEL_BYTES")
    if override:
        return int(float(override))
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (OSError, ValueError):
        return 16 * 2**30


def _int(value: Any, default: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(int(value), 1)


def _kernel(value: Any) -> int:
    if isinstance(value, list | tuple):
        return math.prod(_int(v) for v in value)
    return _int(value) ** 2  # 2-D by default; a lower bound for 1-D is the kernel itself, a small overestimate


def layer_parameters(type_name: str, kwargs: dict[str, Any], features: int) -> tuple[int, int]:
    """``(lower bound of parameters, features after the layer)`` for one layer given ``features`` in."""
    name = type_name.split(":")[-1]
    if "units" in kwargs:
        units = _int(kwargs["units"])
        if name in ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell"):
            gates = {"LSTM": 4, "GRU": 3}.get(name.replace("Cell", ""), 1)
            return gates * units * (units + features), units
        return units * features, units
    if "filters" in kwargs:
        filters = _int(kwargs["filters"])
        return _kernel(kwargs.get("kernel_size", 1)) * features * filters, filters
    if "input_dim" in kwargs and "output_dim" in kwargs:
        return _int(kwargs["input_dim"]) * _int(kwargs["output_dim"]), _int(kwargs["output_dim"])
    if "num_heads" in kwargs and "key_dim" in kwargs:
        return 4 * _int(kwargs["num_heads"]) * _int(kwargs["key_dim"]) * features, features
    return 0, features


def check_model_size(spec: Any, input_shape: Any = None, *, where: str = "model") -> None:
    """A :class:`ModelError` when the layers of ``spec`` need more memory than :func:`memory_budget`."""
    layers = getattr(spec, "layers", None)
    if not layers:
        return
    budget = memory_budget()
    features = 1
    if isinstance(input_shape, tuple | list) and input_shape and all(isinstance(d, int) for d in input_shape):
        features = math.prod(input_shape) if len(input_shape) == 1 else int(input_shape[-1])
        first_flat = getattr(layers[0], "type", "") == "Flatten"
        features = math.prod(input_shape) if first_flat else features
    total = 0
    for i, layer in enumerate(layers):
        params, after = layer_parameters(str(layer.type), layer.kwargs, features)
        if layer.type == "Flatten" and i == 0 and isinstance(input_shape, tuple | list):
            after = features
        total += params
        if total * BYTES_PER_PARAMETER > budget:
            raise ModelError(
                f"{layer.type} needs at least {params:,} parameters ({_size(params * BYTES_PER_PARAMETER)} to "
                f"train), more than this machine can hold ({_size(budget)})",
                where=f"{where}.layers[{i}]",
                fix="Use a realistic size (units/filters in the tens to thousands).")
        features = after


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)
