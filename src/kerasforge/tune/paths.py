"""Recipe paths with list indices (``model.layers[0].units``): parse them and set values in raw recipes.

``recipe.apply_override`` handles dotted mapping keys only; a search also reaches into lists (layers,
callbacks), so it has its own setter here.

Example:
    >>> data = {"model": {"layers": ["Flatten", {"type": "Dense", "units": 10}]}}
    >>> set_path(data, "model.layers[1].units", 64)
    >>> data["model"]["layers"][1]["units"]
    64
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import RecipeError, did_you_mean

_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[(-?\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """The steps of a path: mapping keys as ``str``, list indices as ``int``.

    >>> parse_path("model.layers[0].units")
    ['model', 'layers', 0, 'units']
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if not match or (match.group(1) and pos == 0 and path.startswith(".")):
            raise RecipeError(f"'{path}' is not a recipe path", where=f"search.params.{path}",
                              fix="Write keys joined by dots and list items as [index], e.g. "
                                  "model.layers[0].units.")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return steps


def format_path(steps: list[str | int]) -> str:
    """The inverse of :func:`parse_path`."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else ("." if text else "") + step
    return text


def set_path(data: dict[str, Any], path: str, value: Any, resolved: dict[str, Any] | None = None) -> None:
    """Set ``value`` at ``path`` in the raw recipe mapping ``data`` (changed in place).

    ``resolved`` is the same recipe with its defaults filled in (``Recipe.to_dict()``): a section or
    object the YAML leaves out or writes as a bare name (``optimizer: adam``) is taken from it, so that
    ``train.optimizer.learning_rate`` works on any recipe. A step that is in neither raises a
    :class:`RecipeError` naming ``search.params.<path>`` (with a "did you mean" hint).
    """
    steps = parse_path(path)
    node: Any = data
    shadow: Any = resolved
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        here = format_path(steps[:i]) or "the recipe"
        if isinstance(step, int):
            if not isinstance(node, list):
                raise _error(path, f"{here} is not a list, so it has no item [{step}]")
            if not -len(node) <= step < len(node):
                raise _error(path, f"{here} has {len(node)} item{'s' if len(node) != 1 else ''} "
                                   f"(indices 0 to {len(node) - 1}), so there is no item [{step}]")
        else:
            if not isinstance(node, dict):
                raise _error(path, f"{here} is {node!r}, not a mapping with keys")
            if step not in node and not last:
                if isinstance(shadow, dict) and step in shadow:
                    node[step] = _copy(shadow[step])
                else:
                    known = set(node) | (set(shadow) if isinstance(shadow, dict) else set())
                    raise _error(path, f"{here} has no key '{step}'.{did_you_mean(step, known)} "
                                       f"Its keys: {', '.join(sorted(map(str, known))) or 'none'}")
        if last:
            node[step] = value
            return
        child_shadow = _child(shadow, step)
        if not isinstance(node[step], dict | list) and isinstance(child_shadow, dict | list):
            node[step] = _copy(child_shadow)  # `adam` -> {type: adam}, `Flatten` -> {type: Flatten}
        node, shadow = node[step], child_shadow


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` (``KeyError``/``IndexError`` when it is not there).

    >>> get_path({"train": {"epochs": 3}}, "train.epochs")
    3
    """
    node = data
    for step in parse_path(path):
        node = node[step]
    return node


def _child(node: Any, step: str | int) -> Any:
    try:
        return node[step]
    except (KeyError, IndexError, TypeError):
        return None


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def _error(path: str, what: str) -> RecipeError:
    return RecipeError(what, where=f"search.params.{path}",
                       fix="Point the search at a value the recipe has (see `kforge check` and the resolved "
                           "recipe.yaml of a run).")
