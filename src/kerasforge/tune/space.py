"""The search space of a recipe: its ``search:`` section checked against the recipe, trial recipes, grids.

Every searched path is checked before any trial runs: each path must lead to a value the recipe has
(or a setting its schema declares), and the recipe must stay valid with the bounds and every choice
applied there.

Example:
    >>> space = load_search("digits_mlp_tune.yaml", overrides=["search.trials=4"])   # doctest: +SKIP
    >>> space.trial_recipe({"train.batch_size": 64}, name="digits-trial000")["train"]["batch_size"]  # doctest: +SKIP
    64
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import RecipeError
from ..recipe import (
    ParamSpec,
    Recipe,
    SearchSpec,
    read_raw_recipe,
    validate_recipe,
)
from .paths import get_path, parse_path, set_path

SCALARS = (str, int, float, bool, type(None))


@dataclass
class SearchSpace:
    """A recipe without its ``search:`` section, and the search to run over it."""

    base: dict[str, Any]          # the raw recipe (extends applied, no `search`)
    resolved: dict[str, Any]      # the same with every default filled in
    search: SearchSpec
    recipe: Recipe                # the validated base recipe
    source: str | None = None     # the recipe file, when there is one

    @property
    def name(self) -> str:
        """The recipe's name."""
        return self.recipe.name

    def trial_recipe(self, values: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """The raw recipe with ``values`` (path -> value) applied and no ``search`` section."""
        data = copy.deepcopy(self.base)
        for path, value in values.items():
            set_path(data, path, value, self.resolved)
        if name:
            data["name"] = name
        return data

    def baseline(self) -> dict[str, Any]:
        """The recipe's own value of every searched path, as Optuna stores it (``search.baseline``).

        Raises a :class:`RecipeError` when a value lies outside its searched range, so the baseline could
        not be a trial of this search.
        """
        values = {}
        for path, spec in self.search.params.items():
            try:
                value = get_path(self.resolved, path)
            except (KeyError, IndexError, TypeError):
                value = None
            if value is None:  # `optimizer: adam` leaves learning_rate to Keras: its default is the baseline
                value = keras_default(self.resolved, path)
            if spec.kind == "choice":
                labels = choice_labels(spec)
                label = value if labels == list(spec.choice or []) else json.dumps(value, sort_keys=True)
                ok = label in labels
            else:
                low, high = spec.bounds
                label = value
                ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
            if not ok:
                raise RecipeError(f"the recipe's own value of {path} ({value!r}) is not one of the searched "
                                  "values, so it cannot be the baseline trial", where=f"search.params.{path}",
                                  fix="Include the recipe's value in the searched range or choices, or set "
                                      "search.baseline: false.")
            values[path] = label
        return values

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one value per searched path (path -> recipe value)."""
        values = {}
        for path, spec in self.search.params.items():
            kind = spec.kind
            if kind == "choice":
                labels = choice_labels(spec)
                values[path] = decode_choice(spec, trial.suggest_categorical(path, labels))
            elif kind == "int":
                low, high = spec.bounds
                values[path] = trial.suggest_int(path, int(low), int(high), step=int(spec.step or 1),
                                                 log=bool(spec.log))
            else:
                low, high = spec.bounds
                values[path] = trial.suggest_float(path, low, high, step=spec.step,
                                                   log=kind == "log_uniform")
        return values

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the searched values, as Optuna params (choices by their labels)."""
        axes = []
        for path, spec in self.search.params.items():
            axes.append([(path, v) for v in grid_values(path, spec)])
        return [dict(combo) for combo in itertools.product(*axes)]

    def recipe_values(self, params: dict[str, Any]) -> dict[str, Any]:
        """Optuna params (as stored in a trial) -> recipe values."""
        return {path: decode_choice(spec, params[path]) if spec.kind == "choice" else params[path]
                for path, spec in self.search.params.items() if path in params}

    def fingerprint(self) -> str:
        """A hash of what makes two searches the same study: recipe, searched values, objective."""
        import hashlib

        resolved = dict(self.resolved)
        for key in ("output", "search", "name", "description"):
            resolved.pop(key, None)
        what = {"recipe": resolved, "params": {p: s.model_dump(mode="json", by_alias=True)
                                               for p, s in self.search.params.items()},
                "objective": self.search.objective.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_search(source: str | Path | dict[str, Any] | Recipe,
                overrides: list[str] | None = None) -> SearchSpace:
    """Read a recipe with a ``search:`` section and check the whole search before anything runs.

    Raises :class:`RecipeError` naming ``search.params.<path>`` for a path the recipe does not have,
    a range the recipe cannot take, or a recipe without ``search:``.
    """
    data, where = read_raw_recipe(source, overrides)
    recipe = validate_recipe(data, where=where)
    if recipe.search is None:
        raise RecipeError("has no 'search:' section, so there is nothing to tune", where=where or "recipe",
                          fix="Add e.g. search: {params: {train.optimizer.learning_rate: {log_uniform: "
                              "[1.0e-4, 1.0e-2]}}, trials: 20}.")
    from ..data.validation_source import refuse_tuning_on_test

    refuse_tuning_on_test(recipe)  # data.validation: test would tune on the test set
    base = copy.deepcopy(data)
    base.pop("search", None)
    base_recipe = validate_recipe(base, where=where)
    space = SearchSpace(base=base, resolved=base_recipe.to_dict(), search=recipe.search, recipe=base_recipe,
                        source=where)
    for path, spec in recipe.search.params.items():
        check_param(space, path, spec)
    return space


def check_param(space: SearchSpace, path: str, spec: ParamSpec) -> None:
    """Apply the bounds (or every choice) of one searched value and validate the recipe each time."""
    steps = parse_path(path)
    existed = _has(space.base, path) or _has(space.resolved, path)
    for value in sample_values(spec):
        data = copy.deepcopy(space.base)
        set_path(data, path, value, space.resolved)
        try:
            recipe = validate_recipe(data)
        except RecipeError as exc:
            raise RecipeError(f"with the value {value!r} the recipe is invalid: {exc.where}: {exc.what}",
                              where=f"search.params.{path}", fix=exc.fix or "Change the searched values.") from None
        if recipe.data.validation == "test" and not space.search.objective.allow_test_metric:
            from ..data.validation_source import refuse_tuning_on_test

            try:  # a searched data.validation that reaches the test split tunes on it as much as a fixed one
                refuse_tuning_on_test(recipe.model_copy(update={"search": space.search}))
            except RecipeError as exc:
                raise RecipeError(f"tries the value 'test': data.validation {exc.what}",
                                  where=f"search.params.{path}", fix=exc.fix or "") from None
        if not existed:
            _check_declared(recipe, steps, path)


def sample_values(spec: ParamSpec) -> list[Any]:
    """The values that validation tries: every choice, or both ends of a range."""
    if spec.kind == "choice":
        return list(spec.choice or [])
    low, high = spec.bounds
    if spec.kind == "int":
        step = int(spec.step or 1)
        return [int(low), int(low) + (int(high) - int(low)) // step * step]
    return [low, high]


def grid_values(path: str, spec: ParamSpec) -> list[Any]:
    """The values of one grid axis (choices by their labels); continuous ranges need a ``step``."""
    if spec.kind == "choice":
        return choice_labels(spec)
    low, high = spec.bounds
    if spec.kind == "int" and not spec.log:
        return list(range(int(low), int(high) + 1, int(spec.step or 1)))
    if spec.kind == "uniform" and spec.step:
        count = int((high - low) / spec.step + 1e-9) + 1
        return [round(low + k * spec.step, 12) for k in range(count)]
    raise RecipeError(f"a grid search needs a list of values, but {spec.kind} {list(spec.bounds)} is a "
                      "continuous range", where=f"search.params.{path}",
                      fix="Write the values to try as {choice: [...]}, give the range a step "
                          "({uniform: [0.1, 0.5], step: 0.1}), or use the tpe or random sampler.")


def choice_labels(spec: ParamSpec) -> list[Any]:
    """What Optuna stores for each choice: the value itself, or its JSON text for lists and mappings."""
    values = list(spec.choice or [])
    if all(isinstance(v, SCALARS) for v in values):
        return values
    return [json.dumps(v, sort_keys=True) for v in values]


def decode_choice(spec: ParamSpec, label: Any) -> Any:
    """The recipe value of a choice label (see :func:`choice_labels`)."""
    values = list(spec.choice or [])
    if all(isinstance(v, SCALARS) for v in values):
        return label
    return json.loads(label)


def _has(data: Any, path: str) -> bool:
    try:
        get_path(data, path)
        return True
    except (KeyError, IndexError, TypeError):
        return False


def _check_declared(recipe: Recipe, steps: list[str | int], path: str) -> None:
    """A key the recipe did not have must be a setting its schema declares, not a stray Keras kwarg."""
    node: Any = recipe
    for step in steps[:-1]:
        node = node[step] if isinstance(step, int) or isinstance(node, dict) else getattr(node, step, None)
    key = steps[-1]
    if not isinstance(node, BaseModel) or key in type(node).model_fields:
        return
    from ..errors import did_you_mean

    known = set(type(node).model_fields) | set(node.model_extra or {})
    known.discard(key)
    raise RecipeError(
        f"the recipe has no '{key}' there.{did_you_mean(str(key), known)} Keys it has: "
        f"{', '.join(sorted(map(str, known)))}", where=f"search.params.{path}",
        fix="Search a value the recipe writes out, or write it into the recipe first (a new keyword "
            "argument would go to Keras unchecked).")


def keras_default(resolved: dict[str, Any], path: str) -> Any:
    """The Keras default of a keyword argument the recipe leaves out, e.g. ``train.optimizer.learning_rate``
    of ``optimizer: adam`` (0.001); None when it cannot be told.

    >>> keras_default({"train": {"optimizer": {"type": "adam"}}}, "train.optimizer.learning_rate")
    0.001
    """
    import inspect

    parent_path, _, argument = path.rpartition(".")
    try:
        parent = get_path(resolved, parent_path) if parent_path else None
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(parent, dict) or not isinstance(parent.get("type"), str) or ":" in parent["type"]:
        return None
    import keras

    name = parent["type"]
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    for module in (keras.optimizers, keras.layers, keras.losses, keras.metrics, keras.callbacks):
        cls = getattr(module, name, None) or getattr(module, camel, None)
        if cls is None and hasattr(module, "get"):
            try:
                found = module.get(name)
            except (ValueError, TypeError, AttributeError):
                found = None
            cls = type(found) if found is not None and not inspect.isfunction(found) else None
        if inspect.isclass(cls):
            try:
                default = inspect.signature(cls).parameters[argument].default
            except (KeyError, ValueError, TypeError):
                return None
            return None if default is inspect.Parameter.empty else default
    return None

