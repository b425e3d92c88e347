"""Where the data lives during a run: the one rule that picks in-memory or streaming, and puts the
image scaling into the model.

Example:
    >>> model, x, plan = place_data(recipe, dataset, model, fit=fit_to_model)   # doctest: +SKIP
    >>> plan.describe()                                                       # doctest: +SKIP
    'data path: in memory (the in-memory peak fits 60% of the available memory; ...)'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dataset import Dataset
from .memory import DataPlan, plan_data
from .scaling import can_scale_inside, scale_inside, scale_on_host


def place_data(recipe: Any, dataset: Dataset, model: Any,
               fit: Callable[[Any, Dataset], dict[str, Any]]) -> tuple[Any, dict[str, Any], DataPlan]:
    """``(model, fitted features per split, plan)``: images scaled inside the model where it can take
    the layer (else on the host, in memory), then the memory pre-flight's choice for ``data.stream``.

    ``fit(model, dataset)`` fits the dataset's features to the model's input (per split).
    """
    why_not = ""
    if "pending" in dataset.preprocessing:
        if can_scale_inside(model):
            model = scale_inside(model, dataset, tuple(dataset.input_shape))  # type: ignore[arg-type]
        else:
            why_not = ("the model is not a `layers:` (Sequential) model, so it cannot scale raw pixels itself "
                       "and they are expanded to float32 in memory")
    x = fit(model, dataset)
    y = {"train": dataset.y_train, "validation": dataset.y_val, "test": dataset.y_test}
    plan = plan_data(recipe.data.stream, x, y, model, recipe.train.batch_size, can_stream=not why_not,
                     why_not=why_not)
    if why_not:  # in memory: the normalisation the model cannot do happens on the host, as before
        scale_on_host(dataset)
        x = fit(model, dataset)
    if not plan.stream:  # texts still in the decoded cache are read whole for the in-memory path
        from .text_cache import in_memory

        x = in_memory(x)
    return model, x, plan
