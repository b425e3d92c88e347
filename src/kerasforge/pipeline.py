"""The main job: recipe -> data -> model -> train -> evaluate -> run folder.

Each stage is one function below; :func:`train` runs them in order.

Example:
    >>> import kerasforge
    >>> run = kerasforge.train("recipes/fashion_mnist_cnn.yaml")   # doctest: +SKIP
    >>> run.metrics["test_accuracy"] > 0.9                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .backend import configure_backend, dense_only, describe_environment, set_random_seed
from .console import is_quiet, say
from .distribute import (
    DistributionInfo,
    DistributionSpec,
    configure_distribution,
    localize,
    peer_callbacks,
    shard_for_process,
    start_together,
    training_done,
    watch_run,
    worker_scratch,
)
from .errors import TrainError
from .finishing import finish_earlier_run
from .lifecycle import release, set_parts
from .recipe import Recipe, load_recipe, resolve_recipe_path
from .references import add_to_path
from .runs import Run, fingerprint, new_run_dir, read_json, update_run_info
from .training.callbacks import write_json_atomic

SPLITS = ("train", "validation", "test")


@dataclass
class Prepared:
    """Everything training needs: the dataset, the compiled model, and the arrays fitted to both."""

    dataset: Any
    model: Any
    input_shape: Any
    x: dict[str, Any]
    y: dict[str, Any]
    encodings: dict[str, str]
    class_weight: dict[int, float] | None
    timings: dict[str, float] = field(default_factory=dict)
    data_plan: Any = None  # kerasforge.data.memory.DataPlan: in memory or streamed, and why
    heads: Any = None  # kerasforge.data.targets.Heads: labels/task per output of a multi-output model
    heldout: dict | None = None  # data given in Python: raw test examples saved for export checks


def train(recipe: str | Path | dict | Recipe, *, overrides: list[str] | None = None,
          output_dir: str | Path | None = None, resume: bool | None = None,
          show_summary: bool = True, callbacks: list | None = None, tracking_uri: str | None = None,
          track: bool = True, report: bool = True, devices: str | int | None = None,
          num_processes: int | None = None, process_id: int | None = None,
          coordinator: str | None = None, background: bool = False, data: Any = None) -> Run:
    """Train, evaluate and save the model a recipe describes; returns the finished :class:`Run`.

    ``recipe`` is a YAML path, a built-in recipe name, a mapping or a :class:`Recipe`. An interrupted
    run of the same recipe in the same output folder is resumed from its last finished epoch unless
    ``resume=False`` (or ``output.resume: false``). ``callbacks`` are extra Keras callbacks. The finished
    run is logged to MLflow (``tracking_uri``, else ``$KFORGE_TRACKING_URI``/``$MLFLOW_TRACKING_URI``,
    else an SQLite store in the output folder) unless ``track=False`` or ``$KFORGE_NO_TRACK`` is set.
    ``report=False`` skips the evaluation plots and ``report.html`` (tuning trials do).

    ``devices`` ("all" or a count) trains data-parallel on JAX; ``num_processes``/``process_id``/
    ``coordinator`` ("host:port" of process 0) join a multi-process run, where only process 0 writes
    the run folder and the others return a :class:`Run` whose ``path`` is ``None`` (see
    :mod:`kerasforge.distribute` and ``docs/multi-node.md``).

    ``background=True`` (``kforge train``) returns once the model and metrics are saved and leaves the
    report and tracking to a background process (:mod:`kerasforge.finishing`); ``run.json``'s ``parts``
    says where each stands. A rerun whose last run has its model saved but parts pending finishes those
    instead of training again (unless ``resume=False``).

    ``data`` brings your own data instead of the recipe's ``data.dataset``: numpy ``(x, y)``, a dict of
    splits, or a ``tf.data``/Grain dataset (see :mod:`kerasforge.data.python_data`); a recipe without a
    ``data:`` section is then fine.

    >>> run = train("fashion_mnist_cnn", overrides=["train.epochs=1"])   # doctest: +SKIP
    >>> run = train("digits_mlp", devices="all")                         # doctest: +SKIP
    >>> run = train({"model": {"layers": [...]}}, data=(x, y))           # doctest: +SKIP
    """
    code_dir = None
    if isinstance(recipe, str | Path):  # `module:Name` next to the recipe (after the installed packages)
        code_dir = add_to_path(resolve_recipe_path(recipe).parent.resolve())
    if data is not None and isinstance(recipe, dict) and "data" not in recipe:
        recipe = {**recipe, "data": {"dataset": "python"}}
    recipe = load_recipe(recipe, overrides)
    from .output_check import check_output_dir

    check_output_dir(Path(output_dir or recipe.output.dir), recipe.name, where="--output" if output_dir else "output.dir")
    spec = DistributionSpec(devices, num_processes, process_id, coordinator)
    spec = spec.resolved() if spec.active else None  # argument errors before the slow imports
    earlier = finish_earlier_run(recipe, output_dir, False if spec and spec.processes > 1 else resume,
                                 chief=spec is None or not spec.process_id,
                                 report=report, track=track, tracking_uri=tracking_uri)
    if earlier is not None:  # the last run of this recipe was trained: its report/tracking are finished
        return earlier
    from .code_backend import requested_backend

    backend = configure_backend(requested_backend(recipe), distributed=spec is not None,
                                dense=dense_only(recipe.model))  # user code with tf.* ops picks TensorFlow

    dist = configure_distribution(spec, recipe.train.batch_size) if spec else None
    set_random_seed(recipe.seed)
    say(f"[bold]kerasforge[/bold] {recipe.name}: loading {recipe.data.dataset} (backend: {backend})")
    if dist:
        say(f"  {dist.describe()}")
    from .rehearsal import before_training, prepare_explained

    prepared = prepare_explained(prepare, recipe, data=data)  # a model that cannot be built: one paragraph

    rehearsal = before_training(recipe, prepared, distributed=dist is not None)  # mistakes stop here, in seconds
    fit_recipe = shard_for_process(recipe, prepared, dist) if dist else recipe
    callbacks = [*peer_callbacks(), *(callbacks or [])]
    start = start_together(prepared.model, dist, recipe, output_dir, resume) if dist else 0  # the chief's resume point
    if dist and not dist.is_chief:  # a worker: trains its share, writes nothing
        return _train_worker(fit_recipe, prepared, dist, callbacks, start)
    run_dir, history, initial_epoch = open_run_folder(recipe, prepared, output_dir, resume)
    if dist:
        update_run_info(run_dir, distribution=dist.as_dict())
        watch_run(run_dir)
    if rehearsal is not None:
        update_run_info(run_dir, rehearsal=rehearsal)
    if code_dir is not None:  # where predict/export/serve --trust-code find the recipe's modules
        update_run_info(run_dir, code_dir=str(code_dir))
    if show_summary and not is_quiet():
        prepared.model.summary()
    fit(fit_recipe, prepared, run_dir, history, initial_epoch, callbacks)
    if dist:
        training_done()
        localize(prepared.model)  # evaluation, report and saving on this process alone
    tracked = track and not os.environ.get("KFORGE_NO_TRACK")
    run = finish(recipe, prepared, run_dir, history, report=report, track=tracked, background=background)
    if background and (report or tracked):
        from .finishing import start_in_background

        pid = start_in_background(run_dir, report=report, track=tracked, tracking_uri=tracking_uri)
        say(f"  report and tracking: being made in the background (process {pid}, log {run_dir}/finishing.log)")
    elif tracked:
        track_run(run, tracking_uri)
    release(run_dir)
    return run


def _train_worker(recipe: Recipe, prepared: Prepared, dist: DistributionInfo, callbacks: list,
                  initial_epoch: int = 0) -> Run:
    """A non-chief process of a multi-process run: the same ``fit`` in a scratch folder, then nothing kept."""
    import shutil

    scratch = worker_scratch(dist)
    try:
        history: dict[str, list] = {}
        fit(recipe, prepared, scratch, history, initial_epoch, callbacks)
        training_done()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"  process {dist.process_index} done; process 0 writes the run folder")
    return Run(path=None, recipe=recipe, model=prepared.model, history=history,
               info={"process_index": dist.process_index, "distribution": dist.as_dict()})


# ---------------------------------------------------------------------------------------------------
# data and model
# ---------------------------------------------------------------------------------------------------
def prepare(recipe: Recipe, data: Any = None) -> Prepared:
    """Load and split the data, build and compile the model, and fit features and labels to it."""
    from .data import (
        class_weights,
        default_loss,
        encode_labels,
        fit_features,
        label_encoding_for,
        load_dataset,
        split_validation,
    )
    from .data.dataset import input_dtype
    from .models import build_model, check_outputs
    from .training.compile import compile_model
    from .training.fastpath import choose_precision, is_convolutional, outputs_in_float32, precision_scope

    start = time.perf_counter()
    loaded = heldout = None
    if data is not None:  # kerasforge.train(..., data=...): the user's own arrays or dataset
        from .data.python_data import raw_sample, read_python_data

        loaded = read_python_data(data, test_split=recipe.data.test_split, seed=recipe.seed,
                                  stratify=recipe.data.stratify)
        heldout = raw_sample(loaded, recipe.data, seed=recipe.seed)  # raw, before normalisation: what exports are checked on
    dataset = load_dataset(recipe.data, seed=recipe.seed, compact=True, loaded=loaded,
                           validation_split=0.0 if recipe.data.imbalance else recipe.train.validation_split)
    dataset = split_validation(dataset, recipe.train.validation_split, seed=recipe.seed,
                               stratify=recipe.data.stratify)
    for note in dataset.notes:
        say(f"  note: {note}", style="yellow")
    sizes = dataset.sizes()
    say(f"  {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test examples, "
        f"{dataset.num_classes} classes, input {dataset.input_shape}")
    data_s = time.perf_counter() - start

    start = time.perf_counter()
    import keras

    policy = choose_precision(recipe.train, keras.backend.backend(), convolutional=is_convolutional(recipe.model))
    with precision_scope(policy):
        model = build_model(recipe.model, dataset.input_shape, dataset.num_classes, name=recipe.name,
                            input_dtype=input_dtype(dataset.kind))
    outputs_in_float32(model, policy)
    from .data.targets import output_heads
    from .training.compile import output_names

    heads = output_heads(dataset, recipe.data.targets, output_names(model))  # labels per output, or None
    check_outputs(model, heads.num_classes if heads else dataset.num_classes, heads.tasks if heads else dataset.task)
    def fit_to_model(model, dataset) -> dict[str, Any]:
        shape = model_input_shape(model)
        raw_x = {"train": dataset.x_train, "validation": dataset.x_val, "test": dataset.x_test}
        return {split: value if value is None or shape is None
                else fit_features(value, shape, where=f"data ({split} features)") for split, value in raw_x.items()}

    from .data.placement import place_data

    with precision_scope(policy):  # the scaling layer and the model around it keep the recipe's precision
        model, x, data_plan = place_data(recipe, dataset, model, fit_to_model)  # images scaled in the model
    say(f"  {data_plan.describe()}")
    input_shape = model_input_shape(model)
    adapt_preprocessing(model, x["train"])
    if heads is not None:  # a multi-output model: each output's own labels, task and loss
        from .data.targets import compile_heads

        losses, encodings, y = compile_heads(model, recipe, heads)
    else:
        losses = compile_model(model, recipe.train, task=dataset.task,
                               default_loss=default_loss(dataset.task, dataset.num_classes, _output_units(model)))
        encodings = {out: label_encoding_for(loss, recipe.data.labels, dataset.task) for out, loss in losses.items()}

        def targets(labels):
            if labels is None:
                return None
            encoded = {out: encode_labels(labels, enc, dataset.num_classes) for out, enc in encodings.items()}
            return encoded if len(encoded) > 1 else next(iter(encoded.values()))

        y = {"train": targets(dataset.y_train), "validation": targets(dataset.y_val),
             "test": targets(dataset.y_test)}
    weights = None
    if recipe.train.class_weight is not None:
        if len(losses) > 1:
            raise TrainError("class_weight works only for models with one output", where="train.class_weight",
                             fix="Remove it, or weight the outputs' losses with train.loss_weights.")
        weights = class_weights(dataset.y_train, recipe.train.class_weight, dataset.num_classes)
    return Prepared(dataset=dataset, model=model, input_shape=input_shape, x=x, y=y, encodings=encodings,
                    class_weight=weights, timings={"data_s": data_s, "build_s": time.perf_counter() - start},
                    data_plan=data_plan, heads=heads, heldout=heldout)


def _output_units(model) -> int | None:
    """The last dimension of a single-output model's output (``None`` when unknown or several)."""
    from .models import output_shapes

    try:
        shapes = list(output_shapes(model).values())
    except Exception:
        return None
    return shapes[0][-1] if len(shapes) == 1 and shapes[0] else None


def model_input_shape(model) -> tuple | dict[str, tuple] | None:
    """Shape of one example as the model takes it (per input name); ``None`` for subclassed models."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return None  # a subclassed model: the data is taken as it is
    if len(inputs) == 1:
        return tuple(inputs[0].shape[1:])
    return {t.name.split(":")[0]: tuple(t.shape[1:]) for t in inputs}


def adapt_preprocessing(model, x) -> None:
    """Adapt leading preprocessing layers (TextVectorization, Normalization, the zoo's PatchWhitening...)
    to the training data; each sees the output of the ones before it. A functional model's input layer
    is skipped, and the data is only run through a layer when another adaptable layer follows it."""
    if isinstance(x, dict):
        return
    from .data.text_stream import adaptable

    x = adaptable(x)  # texts (in the decoded cache, or many in memory): adapted batch by batch
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    for position, layer in enumerate(layers):
        if not hasattr(layer, "adapt") and not layer.name.startswith("kforge_input_scaling"):
            break
        if not hasattr(layer, "adapt"):  # the model's own pixel scaling: adapt what follows to its output
            if position + 1 < len(layers) and hasattr(layers[position + 1], "adapt"):
                x = layer(x)
                continue
            break
        layer.adapt(x)
        if position + 1 < len(layers) and hasattr(layers[position + 1], "adapt"):
            x = layer(x)
    from .models.vocabulary import make_vocabularies_portable

    make_vocabularies_portable(model, announce=True)  # terms model.keras could not reload


# ---------------------------------------------------------------------------------------------------
# run folder, fit, finish
# ---------------------------------------------------------------------------------------------------
def open_run_folder(recipe: Recipe, prepared: Prepared, output_dir: str | Path | None,
                    resume: bool | None) -> tuple[Path, dict[str, list], int]:
    """A run folder for this run: an interrupted one of the same recipe (resumed) or a new one."""
    from .lifecycle import adopt_resumable, claim
    from .training.callbacks import read_resume_point

    output = Path(output_dir or recipe.output.dir)
    resume = recipe.output.resume if resume is None else resume
    run_dir = adopt_resumable(output, recipe, say) if resume else None  # claimed, or None
    history: dict[str, list] = {}
    initial_epoch = 0
    state = read_resume_point(run_dir / "checkpoints") if run_dir else None
    if run_dir is not None and state is None:  # killed in its first epoch: the same folder, from the start
        say(f"  restarting {run_dir} from its first epoch (it was stopped before finishing one)", style="cyan")
        update_run_info(run_dir, fingerprint=fingerprint(recipe), status="running",
                        started=time.strftime("%Y-%m-%dT%H:%M:%S"), kerasforge=__version__)
    elif state is not None:
        model = prepared.model
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run_dir / "checkpoints" / state["weights"])
        history, initial_epoch = state["history"], int(state["epochs_done"])
        say(f"  resuming {run_dir} after epoch {initial_epoch} of {recipe.train.epochs}", style="cyan")
    else:
        run_dir = new_run_dir(output, recipe.name)
        claim(run_dir)
        (run_dir / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
        write_json_atomic(run_dir / "data.json", data_info(prepared, recipe))
        update_run_info(run_dir, name=recipe.name, fingerprint=fingerprint(recipe), status="running",
                        started=time.strftime("%Y-%m-%dT%H:%M:%S"), kerasforge=__version__)
    update_run_info(run_dir, pid=os.getpid(), host=socket.gethostname(), status="running")
    write_json_atomic(run_dir / "env.json", describe_environment())
    say(f"  run folder: {run_dir}")
    return run_dir, history, initial_epoch


def fit(recipe: Recipe, prepared: Prepared, run_dir: Path, history: dict[str, list], initial_epoch: int,
        extra_callbacks: list) -> None:
    """``model.fit`` with the recipe's callbacks plus history and resume points written every epoch.

    A NaN/infinite loss stops training cleanly (recorded as ``stopped`` in run.json); running out of
    memory retries with half the batch size (recorded as ``oom_retries``), from the last finished epoch.
    """
    from .lifecycle import stopped
    from .training.callbacks import history_recorder, make_callbacks, resume_checkpointer
    from .training.fastpath import (
        EpochTimer,
        apply_fast_path,
        back_to_float32,
        plan_fast_path,
        timing_summary,
    )
    from .training.guards import NonFiniteLossGuard, fit_with_oom_retry
    from .training.scanned import ScannedTrainer, plan_scanned_epochs

    guard, timer = NonFiniteLossGuard(), EpochTimer()
    callbacks = make_callbacks(recipe.train.callbacks, run_dir, initial_lr=learning_rate(prepared.model),
                               epochs=recipe.train.epochs)
    callbacks = [timer, *callbacks, guard, *extra_callbacks, history_recorder(run_dir / "history.json", history),
                 resume_checkpointer(run_dir / "checkpoints", history)]
    x, y = prepared.x, prepared.y
    streamed = prepared.data_plan is not None and prepared.data_plan.stream
    if prepared.data_plan is not None:
        update_run_info(run_dir, data_path=prepared.data_plan.as_dict())
    if getattr(prepared.dataset, "validation_source", None):  # where data.validation's examples came from
        update_run_info(run_dir, validation=prepared.dataset.validation_source)
    # streamed: the plan sees the batches' count only (steps per compiled call), never the arrays
    plan = plan_fast_path(recipe.train, x=_rows_only(x["train"]) if streamed else x["train"], y=y["train"],
                          callbacks=callbacks,
                          extra_data=() if streamed else (x["validation"], y["validation"], x["test"], y["test"]),
                          precision=getattr(getattr(prepared.model, "dtype_policy", None), "name", "float32"))
    apply_fast_path(prepared.model, plan)
    trainer = None if streamed else ScannedTrainer(prepared.model, chunk=plan.scan_chunk) if plan_scanned_epochs(
        plan, prepared.model, x["train"], recipe.train) else None
    say(f"  {plan.describe()}", style=None if plan.applies else "yellow")
    update_run_info(run_dir, fast_path=plan.as_dict())

    # Keras' own fit, or the scanned loop with the same arguments (plus the seed of its epoch order)
    fit_arrays = functools.partial(trainer.fit, seed=recipe.seed) if trainer else prepared.model.fit
    if streamed:  # batches read from the decoded cache by Grain, a seeded permutation per epoch
        from .data.array_pipeline import fit_in_memory
        from .data.stream import fit_streamed

        fit_arrays = functools.partial(fit_in_memory if prepared.data_plan.feed else fit_streamed,
                                       prepared.model, seed=recipe.seed,
                                       shard=prepared.data_plan.shard, multiple=prepared.data_plan.shard_multiple)

    def fit_once(batch_size: int) -> None:
        first = max(initial_epoch, len(history.get("epoch", [])))  # after an OOM retry: the epochs done
        if first < recipe.train.epochs:
            fit_arrays(
                x["train"], y["train"],
                validation_data=(x["validation"], y["validation"]) if x["validation"] is not None else None,
                epochs=recipe.train.epochs, initial_epoch=first, batch_size=batch_size,
                shuffle=recipe.train.shuffle, class_weight=prepared.class_weight, callbacks=callbacks,
                verbose=verbosity(recipe.train.verbose))

    def on_oom(retry: dict) -> None:
        say(f"  out of memory with batch size {retry['batch_size']}: retrying with {retry['new_batch_size']}",
            style="yellow")
        retries = (read_json(run_dir / "run.json", {}) or {}).get("oom_retries", [])
        update_run_info(run_dir, oom_retries=[*retries, retry], batch_size=retry["new_batch_size"])

    start = time.perf_counter()
    try:
        fit_with_oom_retry(fit_once, recipe.train.batch_size, on_retry=on_oom)
    except KeyboardInterrupt:
        stopped(run_dir, "interrupted")
        raise
    except Exception as exc:
        rescued = stopped(run_dir, "failed", exc, prepared.model)
        if rescued is not None:
            raise rescued from exc
        raise
    prepared.timings["fit_s"] = time.perf_counter() - start
    prepared.timings.update(timing_summary(timer.times))
    if back_to_float32(prepared.model):
        say("  trained in mixed precision; the model is float32 again for evaluation and saving")
    if guard.stopped:
        update_run_info(run_dir, stopped=guard.stopped)
        say(f"  stopped: the loss became {guard.stopped['loss']} at epoch {guard.stopped['epoch']}, "
            f"batch {guard.stopped['batch']} (see diagnosis.json)", style="red")


def finish(recipe: Recipe, prepared: Prepared, run_dir: Path, history: dict[str, list], *,
           report: bool = True, track: bool = False, background: bool = False) -> Run:
    """Evaluate, save the model and the metrics, mark the run finished, and write its report (unless
    ``background``: then the report is left ``pending`` for :mod:`kerasforge.finishing`)."""
    from .evaluate import evaluate_model
    from .lifecycle import save_run_files
    from .saving_check import check_saved_model

    split = recipe.evaluate.split
    x_eval, y_eval = prepared.x[split], prepared.y[split]
    if x_eval is None:
        raise TrainError(f"there is no {split} split to evaluate on", where="evaluate.split",
                         fix="Set train.validation_split above 0 (or give data.validation), or evaluate on the test split.")
    start = time.perf_counter()
    eval_batch = recipe.evaluate.batch_size or recipe.train.batch_size
    if prepared.data_plan is not None and prepared.data_plan.stream:  # batches read from the cache, in order
        from .data.stream import quiet_unknown_length, streamed_batches

        with quiet_unknown_length():
            metrics = evaluate_model(prepared.model, streamed_batches(x_eval, y_eval, eval_batch), None,
                                     prefix=split, examples=len(prepared.dataset.y_test if split == "test"
                                                                else prepared.dataset.y_val))
    else:
        metrics = evaluate_model(prepared.model, x_eval, y_eval, batch_size=eval_batch, prefix=split)
    prepared.timings["evaluate_s"] = time.perf_counter() - start
    formats = list(recipe.output.formats) + (["weights"] if recipe.model.kind == "python" else [])
    save_run_files(prepared.model, run_dir, formats, metrics)  # a folder gone read-only: kept elsewhere
    if prepared.heldout is not None:  # exports verify on these, not on a recipe that names no data
        from .data.python_data import save_sample
        from .report.saved_data import report_arrays

        save_sample(run_dir, {**prepared.heldout, **report_arrays(recipe, prepared)})  # + what a report rebuild needs
    from .lean import tensorflow_left_out

    with tensorflow_left_out():  # loading must not import TensorFlow on a JAX run (start-up cost, issue 15)
        check_saved_model(recipe, prepared, run_dir)  # model.keras must come back, else the run failed
    remove_resume_points(run_dir / "checkpoints")
    info = update_run_info(run_dir, status="finished", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                           epochs_done=len(history.get("epoch", [])), timings=prepared.timings,
                           parts={"model": "done", "metrics": "done", **({"report": "pending"} if report else {}),
                                  **({"tracking": "pending"} if track else {})})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    say(f"[bold green]done[/bold green]: {shown}  ->  {run_dir}")
    if report and not background:
        info = write_report(recipe, prepared, run_dir) or info
    return Run(path=run_dir, recipe=recipe, model=prepared.model, history=history, metrics=metrics, info=info,
               data_info=data_info(prepared, recipe))


def write_report(recipe: Recipe, prepared: Prepared, run_dir: Path) -> dict[str, Any] | None:
    """Evaluation, diagnosis, plots and ``report.html`` from the in-memory data; returns the updated run.json.

    A failure here never loses the trained model (saved before): it is caught, shown and recorded.
    """
    from .report import ReportInputs
    from .report import write_report as write_run_report

    dataset, split = prepared.dataset, recipe.evaluate.split
    natural = dataset.x_test if split == "test" else dataset.x_val
    try:
        write_run_report(run_dir, ReportInputs(
            model=prepared.model, x=prepared.x[split], y=dataset.y_test if split == "test" else dataset.y_val,
            task=dataset.task, class_names=list(dataset.class_names),
            images=natural if dataset.kind == "image" else None, texts=natural if dataset.kind == "text" else None,
            train_labels=dataset.y_train, split=split, seed=recipe.seed,
            batch_size=recipe.evaluate.batch_size or recipe.train.batch_size,
            outputs=prepared.heads.for_split(split) if prepared.heads else None))
    except Exception as exc:  # reporting is a bonus; the model and metrics are already saved
        say(f"  warning: the report could not be written ({type(exc).__name__}: {exc})", style="yellow")
        set_parts(run_dir, report="failed")
        return update_run_info(run_dir, report_error=f"{type(exc).__name__}: {exc}"[:2000])
    return read_json(run_dir / "run.json", None)


def track_run(run: Run, tracking_uri: str | None) -> None:
    """Log a finished run to MLflow; a tracking failure is a warning, never a lost run."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        say("  note: MLflow is not installed, so this run is not tracked (pip install mlflow)", style="yellow")
        return
    from .errors import KerasforgeError
    from .tracking import log_run

    try:
        run_id = log_run(run, tracking_uri=tracking_uri, output_dir=run.path.parent)
        run.info = read_json(run.path / "run.json", run.info) or run.info
        say(f"  tracked: MLflow run {run_id}")
    except KerasforgeError as exc:
        set_parts(run.path, tracking="failed")
        say(f"  warning: tracking failed, the run is saved: {exc.message}", style="yellow")


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def learning_rate(model) -> float:
    """The optimizer's current learning rate (1e-3 when it cannot be read)."""
    import keras

    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:
        return 1e-3


def verbosity(setting: Any) -> Any:
    """Keras' ``verbose``: silent when quiet, a bar on a terminal, one line per epoch otherwise."""
    if is_quiet():
        return 0
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return setting


def data_info(prepared: Prepared, recipe: Recipe) -> dict[str, Any]:
    """What ``data.json`` records: classes, sizes, shapes, label encoding and preprocessing."""
    dataset = prepared.dataset
    return {
        "dataset": dataset.name, "source": dataset.source, "notes": dataset.notes, "task": dataset.task,
        "kind": dataset.kind, "class_names": dataset.class_names, "num_classes": dataset.num_classes,
        "sizes": dataset.sizes(), "input_shape": _plain_shape(dataset.input_shape),
        "model_input_shape": _plain_shape(prepared.input_shape), "label_encoding": prepared.encodings,
        **({"outputs": prepared.heads.describe()} if prepared.heads else {}),  # task/classes per output
        **({"validation": dataset.validation_source} if dataset.validation_source else {}),  # data.validation
        "preprocessing": {"normalize": recipe.data.normalize, "image_size": recipe.data.image_size,
                          "color_mode": recipe.data.color_mode, "maxlen": recipe.data.maxlen,
                          "num_words": recipe.data.num_words,
                          **{k: v for k, v in dataset.preprocessing.items() if k != "word_index"}},
    }


def _rows_only(x):
    """A zero-width stand-in with ``x``'s number of rows (what the fast-path plan needs of streamed data)."""
    import numpy as np

    rows = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    return np.empty((rows, 0), np.uint8)


def _plain_shape(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: list(v) for k, v in shape.items()}
    return list(shape)


def remove_resume_points(folder: Path) -> None:
    """Delete the resume points of a finished run (and the folder, when nothing else is in it)."""
    for item in folder.glob("resume*"):
        item.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
