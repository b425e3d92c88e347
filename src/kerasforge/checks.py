"""``kforge check``: validate a recipe and every Keras name in it, without data and without training.

Example:
    >>> check_recipe("recipes/fashion_mnist_cnn.yaml")   # doctest: +SKIP
    'fashion_mnist_cnn: fashion_mnist -> sequential model of 8 layers, adam, 10 epochs'
"""

from __future__ import annotations

from pathlib import Path

from .backend import configure_backend
from .recipe import Recipe, load_recipe, resolve_recipe_path
from .references import add_to_path


def check_recipe(source: str | Path | dict | Recipe, overrides: list[str] | None = None, *,
                 data: bool = False) -> str:
    """Validate ``source`` fully; returns a one-line summary, raises a KerasforgeError on the first problem.

    ``data=True`` (``kforge check --data``) then loads the data and runs the rehearsal of
    :mod:`kerasforge.rehearsal` (a training step, an evaluation, a prediction, a save/reload) on a few examples.
    """
    if isinstance(source, str | Path):
        add_to_path(resolve_recipe_path(source).parent.resolve())
    recipe = load_recipe(source, overrides)
    from .data.locate import resolve_data_path
    from .output_check import check_output_dir

    if recipe.data.path:  # a FIFO, a device or a socket is refused before anything reads it
        resolve_data_path(recipe.data.path)
    check_output_dir(Path(recipe.output.dir), recipe.name)
    from .data.validation_source import check_validation

    check_validation(recipe)  # data.validation: a split name, or a path of a kind the dataset takes
    if recipe.evaluate.split == "validation" and recipe.train.validation_split == 0 and not recipe.data.validation:
        from .errors import RecipeError

        raise RecipeError("there is no validation split to evaluate on (train.validation_split is 0)",
                          where="evaluate.split", fix="Set train.validation_split above 0 (or give data.validation), "
                          "or evaluate on the test split.")
    from .code_backend import requested_backend

    # Names resolve the same on every backend, and Keras on JAX imports in half TensorFlow's time:
    # "auto" validates on JAX when it is installed (dense=True means "prefer JAX"), as dense models train;
    # user code written with tf.* ops still picks TensorFlow.
    if not data:
        configure_backend(requested_backend(recipe), dense=True)
    else:  # the backend the run will train on (Keras keeps its first choice for the process)
        from .backend import dense_only

        configure_backend(requested_backend(recipe), dense=dense_only(recipe.model))
    from .models import check_model_spec
    from .training.callbacks import make_callbacks
    from .training.compile import make_loss, make_metrics, make_optimizer

    check_model_spec(recipe.model)
    from .models.size import check_model_size

    check_model_size(recipe.model, recipe.model.input_shape if hasattr(recipe.model, "input_shape") else None)
    if recipe.search is not None:
        from .tune import load_search

        load_search(recipe)
    make_optimizer(recipe.train.optimizer)
    from .data.targets import check_output_fields

    check_output_fields(recipe)  # per-output dicts name the model's outputs; target expressions parse
    losses = recipe.train.loss if isinstance(recipe.train.loss, dict) else {"": recipe.train.loss}
    for name, spec in losses.items():
        if spec is not None:
            make_loss(spec, "mse", where="train.loss" + (f".{name}" if name else ""))
    metrics = recipe.train.metrics
    for name, specs in (metrics.items() if isinstance(metrics, dict) else [("", metrics)]):
        make_metrics(specs, where="train.metrics" + (f".{name}" if name else ""))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        make_callbacks(recipe.train.callbacks, Path(tmp), initial_lr=1e-3)
    model = recipe.model
    shape = f"{len(model.layers)} layers" if hasattr(model, "layers") else model.ref
    summary = (f"{recipe.name}: {recipe.data.dataset} -> {model.kind} model ({shape}), "
               f"{recipe.train.optimizer.type}, {recipe.train.epochs} epochs")
    if data:
        from .rehearsal import check_with_data, describe

        summary += f"; rehearsal on the data {describe(check_with_data(recipe))}"
    return summary
