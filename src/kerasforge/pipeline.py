"""The main job: recipe -> data -> model -> train -> evaluate -> run folder.

Example:
    >>> import kerasforge
    >>> run = kerasforge.train("recipes/fashion_mnist_cnn.yaml")   # doctest: +SKIP
    >>> run.metrics["test_accuracy"] > 0.9                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .backend import configure_backend, describe_environment
from .console import is_quiet, say
from .errors import KerasforgeError, TrainError
from .recipe import Recipe, load_recipe, resolve_recipe_path
from .references import add_to_path
from .runs import Run, find_resumable, fingerprint, new_run_dir, update_run_info

INPUT_DTYPES = {"text": "string", "sequence": "int32"}


def train(recipe: str | Path | dict | Recipe, *, overrides: list[str] | None = None,
          output_dir: str | Path | None = None, resume: bool | None = None,
          show_summary: bool = True) -> Run:
    """Train, evaluate and save the model a recipe describes; returns the finished :class:`Run`.

    ``recipe`` is a YAML path, a built-in recipe name, a mapping or a :class:`Recipe`. An interrupted
    run of the same recipe in the same output folder is resumed from its last finished epoch unless
    ``resume=False`` (or ``output.resume: false``).

    >>> run = train("fashion_mnist_cnn", overrides=["train.epochs=1"])   # doctest: +SKIP
    """
    if isinstance(recipe, str | Path) and not isinstance(recipe, Recipe):
        path = resolve_recipe_path(recipe)
        add_to_path(path.parent.resolve())  # `module:Name` next to the recipe
    recipe = load_recipe(recipe, overrides)
    backend = configure_backend(recipe.backend)
    import keras

    from .data import class_weights as make_class_weights
    from .data import (
        default_loss,
        encode_labels,
        fit_features,
        label_encoding_for,
        load_dataset,
        split_validation,
    )
    from .evaluate import evaluate_model
    from .models import build_model, check_outputs
    from .saving import save_model
    from .training.callbacks import history_recorder, make_callbacks, read_resume_point, resume_checkpointer

    timings: dict[str, float] = {}
    keras.utils.set_random_seed(recipe.seed)

    # ---- data -----------------------------------------------------------------------------------
    start = time.perf_counter()
    say(f"[bold]kerasforge[/bold] {recipe.name}: loading {recipe.data.dataset} (backend: {backend})")
    dataset = load_dataset(recipe.data, seed=recipe.seed)
    dataset = split_validation(dataset, recipe.train.validation_split, seed=recipe.seed,
                               stratify=recipe.data.stratify)
    for note in dataset.notes:
        say(f"  note: {note}", style="yellow")
    sizes = dataset.sizes()
    say(f"  {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test examples, "
        f"{dataset.num_classes} classes, input {dataset.input_shape}")
    timings["data_s"] = time.perf_counter() - start

    # ---- model ----------------------------------------------------------------------------------
    start = time.perf_counter()
    model = build_model(recipe.model, dataset.input_shape, dataset.num_classes, name=recipe.name,
                        input_dtype=INPUT_DTYPES.get(dataset.kind, "float32"))
    check_outputs(model, dataset.num_classes, dataset.task)
    input_shape = _model_input_shape(model)
    x_train, x_val, x_test = (
        x if x is None or input_shape is None else fit_features(x, input_shape, where=f"data ({split} features)")
        for split, x in (("train", dataset.x_train), ("validation", dataset.x_val), ("test", dataset.x_test)))
    _adapt_preprocessing(model, x_train)
    from .training.compile import compile_model

    losses = compile_model(model, recipe.train, task=dataset.task,
                           default_loss=default_loss(dataset.task, dataset.num_classes))
    encodings = {out: label_encoding_for(loss, recipe.data.labels, dataset.task) for out, loss in losses.items()}

    def targets(y):
        if y is None:
            return None
        encoded = {out: encode_labels(y, enc, dataset.num_classes) for out, enc in encodings.items()}
        return encoded if len(encoded) > 1 else next(iter(encoded.values()))

    y_train, y_val, y_test = targets(dataset.y_train), targets(dataset.y_val), targets(dataset.y_test)
    class_weight = None
    if recipe.train.class_weight is not None:
        if len(losses) > 1:
            raise TrainError("class_weight works only for models with one output", where="train.class_weight",
                             fix="Remove it, or weight the outputs' losses with train.loss_weights.")
        class_weight = make_class_weights(dataset.y_train, recipe.train.class_weight, dataset.num_classes)
    timings["build_s"] = time.perf_counter() - start

    # ---- run folder and resume ------------------------------------------------------------------
    output = Path(output_dir or recipe.output.dir)
    resume = recipe.output.resume if resume is None else resume
    run_dir = find_resumable(output, recipe) if resume else None
    history: dict[str, list] = {}
    initial_epoch = 0
    if run_dir is not None:
        state = read_resume_point(run_dir / "checkpoints")
        if state is None:
            run_dir = None
        else:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(run_dir / "checkpoints" / state["weights"])
            history, initial_epoch = state["history"], int(state["epochs_done"])
            say(f"  resuming {run_dir} after epoch {initial_epoch} of {recipe.train.epochs}", style="cyan")
    if run_dir is None:
        run_dir = new_run_dir(output, recipe.name)
        (run_dir / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
        _write(run_dir / "data.json", _data_info(dataset, recipe, input_shape, encodings))
        update_run_info(run_dir, name=recipe.name, fingerprint=fingerprint(recipe), status="running",
                        started=time.strftime("%Y-%m-%dT%H:%M:%S"), kerasforge=__version__)
    update_run_info(run_dir, pid=os.getpid(), host=socket.gethostname(), status="running")
    _write(run_dir / "env.json", describe_environment())
    say(f"  run folder: {run_dir}")
    if show_summary and not is_quiet():
        model.summary()

    # ---- train ----------------------------------------------------------------------------------
    callbacks = make_callbacks(recipe.train.callbacks, run_dir, initial_lr=_learning_rate(model))
    callbacks += [history_recorder(run_dir / "history.json", history),
                  resume_checkpointer(run_dir / "checkpoints", history)]
    start = time.perf_counter()
    try:
        if initial_epoch < recipe.train.epochs:
            model.fit(x_train, y_train, validation_data=(x_val, y_val) if x_val is not None else None,
                      epochs=recipe.train.epochs, initial_epoch=initial_epoch, batch_size=recipe.train.batch_size,
                      shuffle=recipe.train.shuffle, class_weight=class_weight, callbacks=callbacks,
                      verbose=_verbosity(recipe.train.verbose))
    except KeyboardInterrupt:
        update_run_info(run_dir, status="interrupted")
        raise
    except Exception as exc:
        update_run_info(run_dir, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    timings["fit_s"] = time.perf_counter() - start

    # ---- evaluate and save ----------------------------------------------------------------------
    start = time.perf_counter()
    x_eval, y_eval = (x_test, y_test) if recipe.evaluate.split == "test" else (x_val, y_val)
    if x_eval is None:
        raise TrainError(f"there is no {recipe.evaluate.split} split to evaluate on", where="evaluate.split",
                         fix="Set train.validation_split above 0, or evaluate on the test split.")
    metrics = evaluate_model(model, x_eval, y_eval, batch_size=recipe.evaluate.batch_size or recipe.train.batch_size,
                             prefix=recipe.evaluate.split)
    timings["evaluate_s"] = time.perf_counter() - start
    _write(run_dir / "metrics.json", metrics)
    formats = list(recipe.output.formats) + (["weights"] if recipe.model.kind == "python" else [])
    save_model(model, run_dir, formats)
    _cleanup_checkpoints(run_dir / "checkpoints")
    info = update_run_info(run_dir, status="finished", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                           epochs_done=len(history.get("epoch", [])), timings=timings)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    say(f"[bold green]done[/bold green]: {shown}  ->  {run_dir}")
    return Run(path=run_dir, recipe=recipe, model=model, history=history, metrics=metrics, info=info,
               data_info=_data_info(dataset, recipe, input_shape, encodings))


def _model_input_shape(model) -> tuple | dict[str, tuple]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return None  # a subclassed model: the data is taken as it is
    if len(inputs) == 1:
        return tuple(inputs[0].shape[1:])
    return {t.name.split(":")[0]: tuple(t.shape[1:]) for t in inputs}


def _adapt_preprocessing(model, x) -> None:
    """Adapt leading preprocessing layers (TextVectorization, Normalization...) to the training data."""
    if isinstance(x, dict):
        return
    for layer in getattr(model, "layers", []):
        if not hasattr(layer, "adapt"):
            break
        layer.adapt(x)
        x = layer(x)


def _learning_rate(model) -> float:
    import keras

    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:
        return 1e-3


def _verbosity(setting: Any) -> Any:
    if is_quiet():
        return 0
    if setting == "auto":  # a progress bar on a terminal, one line per epoch in logs and CI
        return 1 if sys.stdout.isatty() else 2
    return setting


def _data_info(dataset, recipe: Recipe, input_shape, encodings) -> dict[str, Any]:
    return {
        "dataset": dataset.name, "source": dataset.source, "notes": dataset.notes, "task": dataset.task,
        "kind": dataset.kind, "class_names": dataset.class_names, "num_classes": dataset.num_classes,
        "sizes": dataset.sizes(), "input_shape": _plain_shape(dataset.input_shape),
        "model_input_shape": _plain_shape(input_shape), "label_encoding": encodings,
        "preprocessing": {"normalize": recipe.data.normalize, "image_size": recipe.data.image_size,
                          "color_mode": recipe.data.color_mode, "maxlen": recipe.data.maxlen,
                          "num_words": recipe.data.num_words,
                          **{k: v for k, v in dataset.preprocessing.items() if k != "word_index"}},
    }


def _plain_shape(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: list(v) for k, v in shape.items()}
    return list(shape)


def _write(path: Path, data: Any) -> None:
    from .training.callbacks import write_json_atomic

    write_json_atomic(path, data)


def _cleanup_checkpoints(folder: Path) -> None:
    for item in folder.glob("resume*"):
        item.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


__all__ = ["train", "KerasforgeError"]
