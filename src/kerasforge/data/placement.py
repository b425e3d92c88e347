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
from .memory import IN_MEMORY_SHARE, DataPlan, plan_data
from .scaling import can_scale_inside, scale_inside, scale_on_host, why_not_inside


def fits_in_memory(plan: DataPlan) -> bool:
    """Whether the pre-flight's in-memory peak fits (the share ``data.stream: auto`` keeps in memory)."""
    return plan.in_memory_peak <= plan.available_bytes * IN_MEMORY_SHARE


def place_data(recipe: Any, dataset: Dataset, model: Any,
               fit: Callable[[Any, Dataset], dict[str, Any]]) -> tuple[Any, dict[str, Any], DataPlan]:
    """``(model, fitted features per split, plan)``: compact images (or cached table features) are scaled
    inside the model where it can take the layer (Sequential and plain functional models); any other
    model reads them raw and scales each batch on the host as it is read
    (:mod:`kerasforge.data.host_scaling`): kept in memory when they fit (fed by ``tf.data`` on
    TensorFlow, read in chunks of batches elsewhere: :mod:`kerasforge.data.array_pipeline`), else
    streamed — unless
    ``data.stream: false``, the one case that still expands them to float32 in memory. Then the memory
    pre-flight's choice for ``data.stream``.

    ``fit(model, dataset)`` fits the dataset's features to the model's input (per split).
    """
    scaling, must_stream = "", ""
    if "pending" in dataset.preprocessing:
        if can_scale_inside(model):
            model = scale_inside(model, dataset, tuple(dataset.input_shape))  # type: ignore[arg-type]
            scaling = "in the model (its first layer)"
        elif recipe.data.stream is False:  # the user keeps the data in memory: float32 on the host, as before
            scale_on_host(dataset)
            dataset.notes.append(f"expanded the features to float32 in memory (data.stream: false, and "
                                 f"{why_not_inside(model)}, so it cannot scale them itself)")
            scaling = "on the host, in float32 (data.stream: false)"
        else:
            scaling = "per batch on the host"
            must_stream = (f"{why_not_inside(model)}: it cannot scale raw values itself, so they stay compact "
                           "and each batch is scaled as it is read")
    x = fit(model, dataset)
    if must_stream:
        from .host_scaling import scale_per_batch

        x = scale_per_batch(dataset, x, model, tuple(dataset.input_shape))  # type: ignore[arg-type]
    y = {"train": dataset.y_train, "validation": dataset.y_val, "test": dataset.y_test}
    plan = plan_data(recipe.data.stream, x, y, model, recipe.train.batch_size, can_stream=True,
                     must_stream=must_stream)
    plan.scaling = scaling
    if must_stream and recipe.data.stream == "auto" and fits_in_memory(plan):
        from .array_pipeline import in_memory_feed

        plan.feed = in_memory_feed()
        if plan.feed:
            how = "fed by tf.data" if plan.feed == "tf.data" else "read in chunks of batches"
            plan.reason += f", and it fits in memory (so it stays there, {how})"
    if not plan.stream:  # texts still in the decoded cache are read whole for the in-memory path
        from .text_cache import in_memory

        x = in_memory(x)
    return model, x, plan
