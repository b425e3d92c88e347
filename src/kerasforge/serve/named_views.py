"""Named inputs of a multi-input model fed by ``data.views``, as TF Serving's named forms send them.

Such a model is served through its ONE raw example (the views are cut inside the graph,
:mod:`kerasforge.export.views`), but a client may also hold the inputs apart and send them by name:
``{"instances": [{"top": [...], "bottom": [...]}]}`` (row form) or ``{"inputs": {"top": [[...]], "bottom":
[[...]]}}`` (columnar form). Each named value is put back where its view was cut from, giving the raw example
(features no view reads are 0: the model never sees them).

Example:
    >>> layout = layout_of({"preprocessing": {"views": {"shape": [4], "runs": {"a": [[0, 2]], "b": [[2, 4]]}}}})
    >>> assemble({"a": [1, 2], "b": [3, 4]}, layout, "instances[0]").tolist()
    [1.0, 2.0, 3.0, 4.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ServeError


@dataclass(frozen=True)
class ViewLayout:
    """The raw example's shape and each view's flat feature indices."""

    shape: tuple[int, ...]
    index: dict[str, np.ndarray]


def layout_of(info: dict[str, Any]) -> ViewLayout | None:
    """The views recorded in a run's ``data.json`` or an export's card (``preprocessing.views``), else ``None``."""
    recorded = (info.get("preprocessing") or {}).get("views") if isinstance(info, dict) else None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("runs"), dict):
        return None
    try:
        index = {str(name): np.concatenate([np.arange(int(a), int(b)) for a, b in runs])
                 for name, runs in recorded["runs"].items()}
        return ViewLayout(shape=tuple(int(d) for d in recorded["shape"]), index=index)
    except (KeyError, TypeError, ValueError):
        return None


def names_views(value: Any, layout: ViewLayout | None, names: tuple[str, ...]) -> bool:
    """``value`` is an object of named views (not the raw input given by its own name)."""
    if layout is None or not isinstance(value, dict) or not value:
        return False
    if len(value) == 1 and next(iter(value)) in names:
        return False
    return any(key in layout.index for key in value)


def assemble(named: dict[str, Any], layout: ViewLayout, where: str) -> np.ndarray:
    """The raw example (float64, shaped like it) holding each named view's values where it was cut from."""
    _check_names(named, layout, where)
    flat = np.zeros(int(np.prod(layout.shape)), dtype="float64")
    filled = np.zeros(flat.shape, dtype=bool)
    for name, index in layout.index.items():
        values = _numbers(named[name], len(index), f"{where}.{name}")
        clash = filled[index] & (flat[index] != values)
        if clash.any():
            raise ServeError(400, "bad_request", f"{where}.{name} disagrees with another view on the feature(s) "
                             f"{index[clash][:5].tolist()} they share", where=f"{where}.{name}",
                             fix="Send the same value for a feature that two views both take.")
        flat[index], filled[index] = values, True
    return flat.reshape(layout.shape)


def assemble_columns(columns: dict[str, Any], layout: ViewLayout, where: str) -> list[np.ndarray]:
    """The columnar form ``{view: [value per example]}`` as one raw example per row."""
    _check_names(columns, layout, where)
    counts = {name: len(v) if isinstance(v, list) else -1 for name, v in columns.items()}
    if min(counts.values()) < 1 or len(set(counts.values())) != 1:
        raise ServeError(400, "bad_request", f"{where} must give each view a non-empty list with one value per "
                         f"example; got {', '.join(f'{k}: {_count(n)}' for k, n in counts.items())}",
                         where=where, fix='Send {"inputs": {"view": [example, ...], ...}} with equal lengths.')
    rows = next(iter(counts.values()))
    return [assemble({name: values[i] for name, values in columns.items()}, layout, f"{where}[{i}]")
            for i in range(rows)]


def _count(n: int) -> str:
    return str(n) if n >= 0 else "not a list"


def _check_names(named: dict[str, Any], layout: ViewLayout, where: str) -> None:
    unknown = [str(k)[:100] for k in named if k not in layout.index]
    missing = [k for k in layout.index if k not in named]
    if unknown or missing:
        problem = (f"names {', '.join(map(repr, unknown))}, which is not an input" if unknown
                   else f"lacks the input(s) {', '.join(map(repr, missing))}")
        raise ServeError(400, "unknown_input" if unknown else "bad_request",
                         f"{where} {problem}; this model's inputs are {', '.join(map(repr, layout.index))}",
                         where=where, fix="Send every input by name ({"
                         + ", ".join(f'"{k}": [{len(v)} values]' for k, v in layout.index.items())
                         + "}), or the whole raw example alone.")


def _numbers(value: Any, size: int, where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise ServeError(400, "bad_request", f"{where} is not an array of numbers", where=where,
                         fix=f"Send {size} numbers (raw values) for this input.") from None
    if array.size != size:
        raise ServeError(400, "bad_request", f"{where} has {array.size} values; this input takes {size}",
                         where=where, fix=f"Send {size} numbers (raw values) for this input.")
    return array.reshape(-1)
