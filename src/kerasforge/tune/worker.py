"""One tuning worker: asks the shared study for trials and trains each as a normal kerasforge run.

Workers stop when the study has its target number of finished (complete or pruned) trials, when a
grid has no point left in its queue, or at the deadline. Several workers (processes, or machines
sharing one database) can run at once: a trial started after the target was already reached is
marked as surplus and not run.

Example (what ``kforge tune --workers 3`` starts twice, see ``kerasforge/tune/__main__.py``)::

    python -m kerasforge.tune runs/tune/digits.worker-1.json
"""

from __future__ import annotations

import gc
import inspect
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..console import console, is_quiet, set_quiet
from ..errors import KerasforgeError
from ..runs import update_run_info
from .space import SearchSpace, load_search
from .study import (
    SURPLUS,
    heartbeat,
    heartbeat_settings,
    make_storage,
    open_study,
    recover_stale_trials,
    salvage_trial,
    worker_tag,
)

MAX_FAILURES_IN_A_ROW = 3


@dataclass
class WorkerConfig:
    """Everything a worker process needs (written as JSON for worker subprocesses)."""

    recipe: dict[str, Any]              # the raw recipe, search section included
    storage: str
    study: str
    sampler: str
    trials: int                         # finished trials to reach (a grid: its size)
    runs_dir: str                       # where trial run folders go
    seed: int = 42
    deadline: float | None = None       # time.time() after which no trial starts
    worker: int = 0
    quiet: bool = False
    recipe_dir: str | None = None       # put on sys.path for `module:Name` references
    tracking: dict[str, Any] | None = field(default=None)  # {tracking_uri, experiment, parent_run_id}
    devices: str | None = None          # `kforge train --devices` for every trial (data parallel on JAX)

    def save(self, path: Path) -> Path:
        """Write the config as JSON (for ``python -m kerasforge.tune PATH``)."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")
        return path


class PruningCallback:
    """Keras callback factory: report the objective after every epoch and stop a trial the pruner rejects.

    Training is stopped cleanly (``model.stop_training``), so the run folder is finished and then marked
    ``pruned``; raising inside ``fit`` would mark the run failed.
    """

    def __new__(cls, trial: Any, metric: str):
        from ..backend import configure_backend

        configure_backend("auto")  # no-op in a worker (choose_backend came first); for direct use
        import keras

        class _Pruning(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.pruned_at: int | None = None
                self.missing: list[str] | None = None

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs or {}
                if metric not in logs:
                    self.missing = sorted(logs)
                    self.model.stop_training = True
                    return
                trial.report(float(logs[metric]), epoch)
                if trial.should_prune():
                    self.pruned_at = epoch
                    self.model.stop_training = True

        return _Pruning()


def run_worker(config: WorkerConfig) -> int:
    """Run trials until the study has enough of them; returns how many this worker finished.

    >>> run_worker(WorkerConfig(recipe=data, storage="sqlite:///t.db", study="t", sampler="tpe",
    ...                         trials=5, runs_dir="runs/tune/t"))   # doctest: +SKIP
    """
    if config.recipe_dir:
        from ..references import add_to_path

        add_to_path(Path(config.recipe_dir))
    space = load_search(config.recipe)
    choose_backend(space, config.devices)
    study = open_study(space, make_storage(config.storage), config.study, config.sampler,
                       seed=config.seed, create=False)
    done = failures = 0
    while config.deadline is None or time.time() < config.deadline:
        recover_stale_trials(study, space, config.runs_dir)  # a dead machine's trials: failed, queued again
        if not _work_left(study, config):
            if not _others_running(study):
                break
            time.sleep(min(2.0, heartbeat_settings()[0]))  # they may finish, or die and come back as retries
            continue
        with warnings.catch_warnings():  # Optuna's note that its heartbeat is meant for Study.optimize
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
            if study._storage.get_heartbeat_interval() is not None:  # beat at once: a kill from here on is seen
                study._storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("kforge_worker", worker_tag())
        if _is_surplus(study, trial.number, config):
            from optuna.trial import TrialState

            trial.set_user_attr(SURPLUS, True)
            study.tell(trial, state=TrialState.FAIL)
            continue
        try:
            state = run_trial(study, trial, space, config)
            failures = 0
            done += 1
        except KerasforgeError:
            raise  # the recipe or the data is wrong: every other trial would fail the same way
        except Exception:
            failures += 1
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise
            state = "FAIL"
        _say(config, f"  trial {trial.number}: {state}" + (f" (worker {config.worker})" if config.worker else ""))
    return done


def run_trial(study: Any, trial: Any, space: SearchSpace, config: WorkerConfig) -> str:
    """Train one trial's recipe as a kerasforge run and tell the study how it went; returns its state."""
    from optuna.trial import TrialState

    from ..pipeline import train

    objective = space.search.objective
    callback = PruningCallback(trial, objective.metric)
    options: dict[str, Any] = {"output_dir": config.runs_dir, "resume": False, "show_summary": False,
                               "callbacks": [callback], "devices": config.devices,
                               "num_processes": 1}  # one process per trial, even inside a Slurm/MPI job
    accepted = inspect.signature(train).parameters
    if "report" in accepted:
        options["report"] = False  # a trial's HTML report costs seconds; the study has its own report
    if "track" in accepted:
        options["track"] = False  # tracked below, as a child run of the study (or not at all)
    was_quiet = is_quiet()
    set_quiet(True)
    started = time.perf_counter()
    try:
        values = space.suggest(trial)
        with heartbeat(study, trial):
            run = train(space.trial_recipe(values, name=f"{space.name}-trial{trial.number:03d}"), **options)
    except BaseException as exc:
        if salvage_trial(study, trial.number, space, config.runs_dir):  # its run finished all the same
            return f"recorded from its finished run folder ({type(exc).__name__} afterwards)"
        trial.set_user_attr("kforge_error", f"{type(exc).__name__}: {exc}"[:1000])
        study.tell(trial, state=TrialState.FAIL)
        raise
    finally:
        set_quiet(was_quiet)
        _free_memory()
    trial.set_user_attr("run_dir", str(run.path))
    trial.set_user_attr("metrics", {k: v for k, v in run.metrics.items() if isinstance(v, int | float)})
    trial.set_user_attr("epochs_done", len(run.history.get("epoch", [])))
    trial.set_user_attr("duration_s", round(time.perf_counter() - started, 2))
    if callback.missing is not None:
        study.tell(trial, state=TrialState.FAIL)
        raise KerasforgeError(
            f"the objective metric '{objective.metric}' is not among the epoch's logs "
            f"({', '.join(callback.missing)})", where="search.objective.metric",
            fix="Pick one of those names; validation metrics need a validation set (train.validation_split above 0, or data.validation).")
    if callback.pruned_at is not None:
        update_run_info(run.path, status="pruned", pruned_after_epoch=callback.pruned_at + 1,
                        study=config.study, trial=trial.number)
        study.tell(trial, state=TrialState.PRUNED)
        _track(config, run.path, trial.number, "PRUNED")
        return f"pruned after epoch {callback.pruned_at + 1}"
    value = objective_value(run.history, run.metrics, objective.metric, objective.resolved_direction,
                            objective.epoch)
    update_run_info(run.path, study=config.study, trial=trial.number, objective=value)
    study.tell(trial, value)
    _track(config, run.path, trial.number, "COMPLETE")
    return f"{objective.metric} {value:.4f}"


def objective_value(history: dict[str, list], metrics: dict[str, Any], metric: str, direction: str,
                    epoch: str = "best") -> float:
    """The objective of a finished run: a history metric at its best (or last) epoch, or a final metric.

    >>> objective_value({"val_accuracy": [0.5, 0.9, 0.8]}, {}, "val_accuracy", "maximize")
    0.9
    >>> objective_value({"val_accuracy": [0.5, 0.9, 0.8]}, {}, "val_accuracy", "maximize", "last")
    0.8
    """
    series = [v for v in history.get(metric, []) if v is not None and not math.isnan(v)]
    if series:
        if epoch == "last":
            return float(series[-1])
        return float(max(series) if direction == "maximize" else min(series))
    if metric in metrics:
        return float(metrics[metric])
    return float("nan")


def _work_left(study: Any, config: WorkerConfig) -> bool:
    from optuna.trial import TrialState

    if config.sampler == "grid":
        return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    active = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                   TrialState.RUNNING))
              if not t.user_attrs.get(SURPLUS)]
    return len(active) < config.trials


def choose_backend(space: SearchSpace, devices: str | None) -> str:
    """The backend ``kforge train`` would pick for the recipe (dense-only models on JAX on a CPU, JAX with
    ``--devices``), fixed before Keras' first import in this worker."""
    from ..backend import configure_backend, dense_only

    return configure_backend(space.recipe.backend, distributed=devices is not None,
                             dense=dense_only(space.recipe.model))


def _others_running(study: Any) -> bool:
    """Whether trials (of other workers or machines) are still running; this worker waits for them."""
    from optuna.trial import TrialState

    return any(not t.user_attrs.get(SURPLUS)
               for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _is_surplus(study: Any, number: int, config: WorkerConfig) -> bool:
    """Whether a trial just asked for would go beyond the target (another worker was quicker)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    mine = next(t for t in trials if t.number == number)
    active = [t for t in trials if t.number != number and not t.user_attrs.get(SURPLUS)
              and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)]
    if config.sampler != "grid":
        return sum(t.number < number for t in active) >= config.trials
    fixed = mine.system_attrs.get("fixed_params")
    if fixed is None:
        return True  # the grid's queue was empty: every point is taken
    return any(t.number < number and t.params == fixed for t in active)


def _free_memory() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def _track(config: WorkerConfig, run_path: Path, number: int, state: str) -> None:
    if not config.tracking:
        return
    try:
        from .. import tracking  # written separately; optional
    except ImportError:
        return
    tags = {"optuna.study": config.study, "optuna.trial": str(number), "optuna.state": state}
    if config.tracking.get("queued"):  # the store failed when the study started: `kforge track` logs it later
        tracking.queue_run(run_path, config.tracking["tracking_uri"], experiment=config.tracking.get("experiment"),
                           tags=tags, error=config.tracking.get("error", ""))
        return
    try:
        tracking.log_run(run_path, tracking_uri=config.tracking.get("tracking_uri"),
                         experiment=config.tracking.get("experiment"),
                         parent_run_id=config.tracking.get("parent_run_id"),
                         output_dir=config.tracking.get("output_dir"),
                         tags=tags)
    except Exception as exc:  # tracking must never lose a trial (it is queued for `kforge track`)
        _say(config, f"[yellow]tracking: could not log trial {number}: {getattr(exc, 'message', exc)}[/yellow]")


def _say(config: WorkerConfig, message: str) -> None:
    if not config.quiet:
        console().print(message, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker subprocess (``python -m kerasforge.tune CONFIG.json``)."""
    argv = sys.argv[1:] if argv is None else argv
    config = WorkerConfig(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    try:
        run_worker(config)
    except KerasforgeError as exc:
        print(f"kforge tune (worker {config.worker}): {exc.kind}: {exc.message}", file=sys.stderr)
        return 2
    return 0

