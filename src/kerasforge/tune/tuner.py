"""``tune``: a hyperparameter search over a recipe, from the check of its ``search:`` section to the report.

Steps: check the search (before anything runs), open the study, recover from an interruption (trials
of dead workers marked failed, missing grid points queued again), run K workers, then write the
results table, the best recipe as YAML and the HTML report with plots.

Example:
    >>> from kerasforge.tune import tune
    >>> result = tune("digits_mlp_tune.yaml", trials=8, workers=2)   # doctest: +SKIP
    >>> result.best_value, result.best_recipe_path                   # doctest: +SKIP
    (0.9778, PosixPath('runs/tune/digits_mlp-best.yaml'))
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..console import is_quiet, say
from ..errors import KerasforgeError
from ..recipe import Recipe
from .space import load_search
from .study import (
    SAMPLERS,
    baseline_trial,
    counts,
    default_storage,
    enqueue_baseline,
    enqueue_grid,
    fail_orphaned_trials,
    make_storage,
    open_study,
    require_gp,
)
from .worker import WorkerConfig, run_worker


@dataclass
class TuneResult:
    """What a search leaves: the study, its best trial and recipe, and the files written."""

    study_name: str
    storage: str
    study: Any
    best_trial: Any | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_recipe_path: Path | None = None
    report_path: Path | None = None
    runs_dir: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


def tune(recipe: str | Path | dict | Recipe, *, sampler: str | None = None, trials: int | None = None,
         workers: int = 1, timeout: float | None = None, storage: str | None = None, study: str | None = None,
         output_dir: str | Path = "runs", overrides: list[str] | None = None,
         tracking_uri: str | None = None, track: bool = True, report: bool = True,
         devices: str | int | None = None) -> TuneResult:
    """Search the hyperparameters a recipe's ``search:`` section names; resumes a study of the same name.

    ``sampler``, ``trials`` and ``timeout`` override the recipe's ``search`` settings. Trials are run
    by ``workers`` processes sharing the study's storage (default ``<output>/tune/<study>.db``); each
    trial is a run folder under ``<output>/tune/<study>/``. Tracking works as for :func:`kerasforge.train`:
    unless ``track=False`` (or ``$KFORGE_NO_TRACK``), the study is an MLflow parent run and every trial
    a child run, in ``tracking_uri`` or the default store (``<output>/mlflow.db``). Trials pick their
    backend as ``kforge train`` does, and ``devices`` is ``kforge train --devices`` for every trial.

    A study that ends short of its trial count (not because of ``timeout``) raises a
    :class:`KerasforgeError` after its report is written.

    >>> result = tune("my_tune.yaml", sampler="random", trials=10)   # doctest: +SKIP
    """
    space = load_search(recipe, overrides)  # every problem of the search shows up here, before any trial
    search = space.search
    sampler = sampler or search.sampler
    if sampler not in SAMPLERS:
        raise KerasforgeError(f"unknown sampler {sampler!r}", where="--sampler",
                              fix=f"Use one of {', '.join(SAMPLERS)}.")
    if sampler == "gp":
        require_gp()
    if workers < 1:
        raise KerasforgeError(f"--workers must be 1 or more, got {workers}", where="--workers",
                              fix="Use one worker per free CPU core or GPU.")
    target = trials or search.trials
    if sampler == "grid":
        size = len(space.grid())  # raises for continuous ranges without a step
        if trials and trials != size:
            say(f"  note: a grid search visits every one of its {size} points; --trials {trials} is ignored",
                style="yellow")
        target = size
    baseline = space.baseline() if search.baseline and sampler != "grid" else None  # checked before any trial
    timeout = timeout if timeout is not None else search.timeout
    study_name = study or space.name
    output = Path(output_dir)
    storage_url = storage or default_storage(output, study_name)
    the_study = open_study(space, make_storage(storage_url), study_name, sampler, seed=space.recipe.seed)
    runs_dir = output / "tune" / study_name
    failed = fail_orphaned_trials(the_study, space, runs_dir)
    if failed:
        say(f"  trials {', '.join(map(str, failed))} were left running by a stopped process: marked failed",
            style="yellow")
    if sampler == "grid":
        enqueue_grid(the_study, space)
    elif baseline is not None and enqueue_baseline(the_study, baseline):
        say("  trial 0 runs the recipe's own values (search.baseline): the score to beat")
    before = counts(the_study)
    finished = before.get("COMPLETE", 0) + before.get("PRUNED", 0)
    say(f"[bold]kforge tune[/bold] {space.name}: study {study_name!r} ({sampler}), {finished} of {target} "
        f"trials finished, {workers} worker{'s' if workers > 1 else ''}; storage {storage_url}")
    seed = space.recipe.seed + 1000 * sum(before.values())  # a resumed search does not repeat its samples
    config = WorkerConfig(recipe=_raw(recipe, overrides), storage=storage_url, study=study_name, sampler=sampler,
                          trials=target, runs_dir=str(runs_dir), seed=seed,
                          deadline=time.time() + timeout if timeout else None, quiet=is_quiet(),
                          recipe_dir=str(Path(space.source).resolve().parent) if space.source else None,
                          tracking=_start_tracking(tracking_uri, study_name, space, sampler, the_study, output,
                                                   track),
                          devices=None if devices is None else str(devices))
    _run_workers(config, workers, output / "tune")
    result = finish(space, the_study, storage_url, runs_dir, output / "tune", report=report,
                    tracking=config.tracking, target=target)
    check_complete(result, target, timed_out=config.deadline is not None and time.time() >= config.deadline)
    return result


def check_complete(result: TuneResult, target: int, *, timed_out: bool) -> None:
    """Raise a :class:`KerasforgeError` when the study has fewer finished trials than its target (unless its
    time budget ran out, which is said in a note)."""
    finished = result.counts.get("COMPLETE", 0) + result.counts.get("PRUNED", 0)
    if finished >= target:
        return
    shown = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.counts.items())) or "no trials"
    if timed_out:
        say(f"  note: the time budget ran out with {finished} of {target} trials finished ({shown})", style="yellow")
        return
    raise KerasforgeError(
        f"the study {result.study_name!r} ended with {finished} of its {target} trials finished ({shown})",
        where="kforge tune",
        fix="Run the same command again (from any machine sharing the storage): finished trials are kept, "
            "failed ones are run again; see the report for the failures.")


def finish(space: Any, study: Any, storage_url: str, runs_dir: Path, folder: Path, *, report: bool = True,
           tracking: dict[str, Any] | None = None, target: int | None = None) -> TuneResult:
    """Results table, best recipe YAML and HTML report of a study (also for a study that is still running)."""
    from optuna.trial import TrialState

    from .report import print_table, write_best_recipe, write_report

    result = TuneResult(study_name=study.study_name, storage=storage_url, study=study, best_trial=None,
                        best_value=None, runs_dir=runs_dir, counts=counts(study))
    if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        best = study.best_trial
        result.best_trial, result.best_value = best, best.value
        result.best_params = space.recipe_values(best.params)
        result.best_recipe_path = write_best_recipe(space, study, best, folder / f"{study.study_name}-best.yaml")
    if not is_quiet():
        print_table(study, space)
    if report:
        result.report_path = write_report(space, study, folder / f"{study.study_name}.html", result)
    finished = result.counts.get("COMPLETE", 0) + result.counts.get("PRUNED", 0)
    if result.counts.get("FAIL"):
        say(f"  {result.counts['FAIL']} trial(s) failed (stopped processes or errors: see the report); they do "
            "not count" + ("" if target is None or finished >= target
                           else f", and {target - finished} trial(s) are still to run: run the same command again"),
            style="yellow")
    if result.best_recipe_path:
        say(f"[bold green]best[/bold green]: trial {result.best_trial.number}, "
            f"{space.search.objective.metric} {result.best_value:.4f} -> {result.best_recipe_path}")
        base = baseline_trial(study)
        if base is not None and base.value is not None:
            say(f"  baseline (the recipe's own values): trial {base.number}, {space.search.objective.metric} "
                f"{base.value:.4f}" + (" - the search found nothing better" if base.number == result.best_trial.number
                                       else f"; best is {result.best_value - base.value:+.4f}"))
    if tracking and tracking.get("parent_run_id"):
        _end_tracking(tracking)
    return result


def _raw(recipe: str | Path | dict | Recipe, overrides: list[str] | None) -> dict[str, Any]:
    """The raw recipe mapping a worker rebuilds the search from (extends and overrides applied)."""
    from ..recipe import read_raw_recipe

    return read_raw_recipe(recipe, overrides)[0]


def _run_workers(config: WorkerConfig, workers: int, folder: Path) -> None:
    """Worker 0 runs here; workers 1..K-1 are subprocesses (``python -m kerasforge.tune``) that end with
    this process."""
    procs = []
    folder.mkdir(parents=True, exist_ok=True)  # for any storage, not only the default SQLite file
    for index in range(1, workers):
        spec = WorkerConfig(**{**config.__dict__, "worker": index, "seed": config.seed + index})
        path = spec.save(folder / f"{config.study}.worker-{index}.json")
        procs.append(subprocess.Popen([sys.executable, "-m", "kerasforge.tune", str(path), str(os.getpid())]))
    try:
        run_worker(config)
    finally:
        codes = [p.wait() for p in procs]
    bad = [f"worker {i + 1} (exit code {c})" for i, c in enumerate(codes) if c != 0]
    if bad:
        raise KerasforgeError(f"{', '.join(bad)} stopped with an error (printed above)", where="kforge tune",
                              fix="Fix the error and run the same command again: finished trials are kept.")


def _start_tracking(tracking_uri: str | None, study_name: str, space: Any, sampler: str, study: Any,
                    output: Path, track: bool) -> dict[str, Any] | None:
    """The study's MLflow parent run (trials become its children), when tracking is on as for ``kforge
    train``: not with ``track=False`` or ``$KFORGE_NO_TRACK``, nor without MLflow installed."""
    if not track or os.environ.get("KFORGE_NO_TRACK"):
        return None
    try:
        from .. import tracking
    except ImportError:
        return None
    if importlib.util.find_spec("mlflow") is None:
        say("  note: MLflow is not installed, so the trials are not tracked (pip install mlflow)", style="yellow")
        return None
    uri = tracking.resolve_tracking_uri(tracking_uri, output)
    known = study.user_attrs.get("kforge_mlflow_parent") or {}
    parent = known.get("run_id") if isinstance(known, dict) and known.get("uri") == uri else None
    if not parent:
        params = {"sampler": sampler, "objective": space.search.objective.metric,
                  **{f"search.{p}": s.model_dump_json(by_alias=True, exclude_none=True)
                     for p, s in space.search.params.items()}}
        try:
            parent = tracking.start_parent_run(study_name, tracking_uri=uri, experiment=space.name,
                                               params=params, output_dir=output)
        except KerasforgeError as exc:  # tracking must never stop a search; its trials wait for `kforge track`
            say(f"  warning: the search is not tracked now: {exc.message}. Its trials are queued: "
                f"`kforge track --pending --output {output}` logs them under the study's run later", style="yellow")
            return {"tracking_uri": uri, "experiment": space.name, "parent_run_id": None,
                    "output_dir": str(output), "queued": True, "error": exc.message}
        study.set_user_attr("kforge_mlflow_parent", {"uri": uri, "run_id": parent})
    return {"tracking_uri": uri, "experiment": space.name, "parent_run_id": parent, "output_dir": str(output)}


def _end_tracking(tracking: dict[str, Any]) -> None:
    try:
        from .. import tracking as mlflow_tracking

        mlflow_tracking.end_run(tracking["parent_run_id"], status="FINISHED",
                                tracking_uri=tracking["tracking_uri"], output_dir=tracking["output_dir"])
    except Exception as exc:  # tracking must never lose the result
        say(f"  tracking: could not close the study's run: {exc}", style="yellow")
