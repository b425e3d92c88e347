"""A ``module:Name`` reference must be the kind of thing its field needs: a callback class for a callback,
a function of ``(epoch, lr)`` for a schedule, a function of ``(y_true, y_pred)`` (or a Loss/Metric class)
for a loss or metric, a function of one tensor for an activation. Checked when the reference is resolved
(``kforge check`` included), so a wrong one is one clear error instead of a traceback mid-training.

Example:
    >>> import os.path
    >>> expect("os.path:join", os.path.join, "loss", where="train.loss") is os.path.join
    True
"""

from __future__ import annotations

import inspect
from typing import Any

from .errors import KerasforgeError, RecipeError

_NEEDS = {
    "callback": "a keras.callbacks.Callback subclass",
    "schedule": "a function schedule(epoch, lr) -> new learning rate",
    "loss": "a function loss(y_true, y_pred) -> tensor, or a keras.losses.Loss subclass",
    "metric": "a function metric(y_true, y_pred) -> tensor, or a keras.metrics.Metric subclass",
    "activation": "a function of one tensor, e.g. def my_act(x): return keras.ops.relu(x) * 0.5",
}


def _what(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    if callable(obj):
        return f"the function {getattr(obj, '__name__', type(obj).__name__)}"
    return f"a {type(obj).__name__} ({obj!r})"[:120]


def expect(ref: str, obj: Any, kind: str, *, where: str, error: type[KerasforgeError] = RecipeError) -> Any:
    """``obj`` (what ``ref`` resolved to) when it fits ``kind`` (callback, schedule, loss, metric,
    activation); ``error`` naming ``where`` otherwise."""
    import keras

    def refuse(reason: str = "") -> KerasforgeError:
        return error(f"{ref!r} is {_what(obj)}, not {_NEEDS[kind]}{reason}", where=where,
                     fix=f"Point it at {_NEEDS[kind]}.")

    if kind == "callback":
        if not (inspect.isclass(obj) and issubclass(obj, keras.callbacks.Callback)):
            raise refuse()
        return obj
    if kind in ("loss", "metric"):
        base = keras.losses.Loss if kind == "loss" else keras.metrics.Metric
        if inspect.isclass(obj):
            if not issubclass(obj, base | keras.losses.Loss):
                raise refuse()
            return obj
        if not callable(obj) or not _binds(obj, 2):
            raise refuse()
        return obj
    if kind == "schedule":
        if inspect.isclass(obj) or not callable(obj) or not _binds(obj, 2):
            raise refuse()
        return obj
    if kind == "activation":
        if not callable(obj) or (inspect.isclass(obj) and not issubclass(obj, keras.layers.Layer)):
            raise refuse()
        if inspect.isclass(obj):
            return obj
        try:
            out = obj(keras.ops.zeros((1, 2)))
            keras.ops.convert_to_numpy(out)
        except Exception as exc:  # any failure: it is not an activation
            raise refuse(f" (calling it on a tensor failed: {type(exc).__name__}: {str(exc)[:150]})") from None
        return obj
    raise ValueError(kind)


def _binds(fn: Any, n: int) -> bool:
    try:
        inspect.signature(fn).bind(*range(n))
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): let it be
        return True
    return True
