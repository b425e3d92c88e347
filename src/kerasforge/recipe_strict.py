"""Numbers in a recipe mean numbers: ``true`` is not a count, ``.inf``/``.nan`` are not rates, and the Keras
keyword arguments of layers, optimizers, losses, metrics and callbacks hold real numbers (``1e-3`` written as
text becomes the number; ``units: ten`` or ``rate: .nan`` is refused before anything is built).

Used by the recipe's base classes (:mod:`kerasforge.recipe`) in their ``before`` validators.

Example:
    >>> check_kwargs({"units": "1e2", "activation": "relu"})
    {'units': 100, 'activation': 'relu'}
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Any

from pydantic_core import PydanticCustomError

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
NUMERIC_KWARGS = frozenset({
    "units", "filters", "rate", "momentum", "epsilon", "learning_rate", "beta_1", "beta_2", "weight_decay",
    "clipnorm", "clipvalue", "global_clipnorm", "pool_size", "strides", "kernel_size", "dilation_rate",
    "input_dim", "output_dim", "num_heads", "key_dim", "value_dim", "depth_multiplier", "l1", "l2", "factor",
    "height", "width", "patience", "min_delta", "decay_steps", "decay_rate", "initial_learning_rate",
    "warmup_steps", "warmup_target", "alpha", "gamma", "label_smoothing", "stddev", "min_lr", "cooldown",
    "first_decay_steps", "t_mul", "m_mul", "end_learning_rate", "power", "num_thresholds", "top_k",
    "threshold", "thresholds", "cropping", "padding_size", "max_tokens", "output_sequence_length",
    "sequence_length", "ema_momentum", "rho", "initial_accumulator_value", "max_value", "negative_slope",
})


INT_KWARGS = frozenset({
    "units", "filters", "input_dim", "output_dim", "num_heads", "key_dim", "value_dim", "depth_multiplier",
    "patience", "cooldown", "decay_steps", "first_decay_steps", "warmup_steps", "num_thresholds", "top_k",
    "max_tokens", "output_sequence_length", "sequence_length", "height", "width",
})


BOOL_KWARGS = frozenset({
    "from_logits", "use_bias", "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
    "center", "scale", "nesterov", "amsgrad", "restore_best_weights", "save_best_only", "save_weights_only",
    "sparse", "ragged", "use_ema", "multi_label", "sparse_y_true", "sparse_y_pred", "training",
})


# true/false for one class, a number for another (BatchNormalization's `scale` vs Rescaling's, VarianceScaling's)
BOOL_OR_NUMBER_KWARGS = frozenset({"scale"})


def _accepts_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _accepts_bool(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_accepts_bool(a) for a in typing.get_args(annotation))
    return False


def _is_numeric(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_numeric(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return any(isinstance(a, int | float) and not isinstance(a, bool) for a in typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_numeric(a) for a in typing.get_args(annotation))
    return False


def _items_annotation(annotation: Any) -> Any:
    """For ``list[X]``/``tuple[X, ...]``/``dict[K, X]`` (or a union holding one), ``X``; else None."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is typing.Union or origin is types.UnionType:
        for arg in args:
            inner = _items_annotation(arg)
            if inner is not None:
                return inner
    if origin is typing.Annotated:
        return _items_annotation(args[0])
    return None


def reject_bool_numbers(model_fields: dict[str, Any], data: dict[str, Any]) -> None:
    """Refuse ``true``/``false`` given to a numeric field (directly or as an item of a list of numbers)."""
    by_alias = {f.alias: f for f in model_fields.values() if f.alias}
    for key, value in data.items():
        field = model_fields.get(key) or by_alias.get(key)
        if field is None:
            continue
        _check_value(str(key), field.annotation, value)


def _check_value(key: str, annotation: Any, value: Any) -> None:
    if isinstance(value, bool):
        if _is_numeric(annotation) and not _accepts_bool(annotation):
            raise PydanticCustomError("bool_number", "'{key}' must be a number, not {value} (YAML reads "
                                      "true/false/yes/no/on/off as booleans)", {"key": key, "value": str(value).lower()})
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("not_finite", "'{key}' must be a finite number, got {value}",
                                  {"key": key, "value": value})
    inner = _items_annotation(annotation)
    if inner is not None and isinstance(value, list | tuple):
        for item in value:
            _check_value(key, inner, item)
    elif inner is not None and isinstance(value, dict):
        for item in value.values():
            _check_value(key, inner, item)


def check_kwargs(kwargs: dict[str, Any], *, depth: int = 0) -> dict[str, Any]:
    """Keras keyword arguments with numbers written as text (``"1e-3"``) turned into numbers; a
    ``PydanticCustomError`` for ``nan``/``inf``, or for a boolean or a word where Keras takes a number."""
    out = {}
    for key, value in kwargs.items():
        out[key] = _kwarg(str(key), value, depth)
    return out


def _kwarg(key: str, value: Any, depth: int) -> Any:
    numeric = key in NUMERIC_KWARGS
    if isinstance(value, bool):
        if numeric:
            raise PydanticCustomError("bool_number", "'{key}' must be a number, not {value}",
                                      {"key": key, "value": str(value).lower()})
        return value
    number = isinstance(value, int | float) or (isinstance(value, str) and bool(_NUMBER.fullmatch(value.strip())))
    if key in BOOL_KWARGS and not isinstance(value, bool) and value is not None and not (
            key in BOOL_OR_NUMBER_KWARGS and number):
        raise PydanticCustomError("word_bool", "'{key}' must be true or false, got {value}",
                                  {"key": key, "value": repr(value)})
    if isinstance(value, float) and key in INT_KWARGS and value.is_integer():
        return int(value)  # `units: 1e2` reads as the float 100.0; Keras wants the int
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("not_finite", "'{key}' must be a finite number, got {value}",
                                  {"key": key, "value": value})
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()) and (numeric or "e" in value.lower()):
        number = float(value)
        if not math.isfinite(number):
            raise PydanticCustomError("not_finite", "'{key}' must be a finite number, got {value}",
                                      {"key": key, "value": value})
        whole = number.is_integer() and "." not in value and abs(number) < 2**63
        return int(number) if whole and "e-" not in value.lower() else number
    if numeric and isinstance(value, str) and ":" not in value:
        raise PydanticCustomError("word_number", "'{key}' must be a number, got the word '{value}'",
                                  {"key": key, "value": value})
    if depth < 8 and isinstance(value, dict):
        return {k: _kwarg(str(k), v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, list | tuple):
        return [_kwarg(key, v, depth + 1) for v in value]
    return value
