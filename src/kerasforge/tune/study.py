"""Optuna studies for kerasforge: storage, samplers, pruners, and recovery after an interruption.

A study lives in an SQLAlchemy storage (SQLite under ``<output>/tune/<study>.db`` by default, or any
URL such as PostgreSQL), so several worker processes can share it and a killed search can be run again
without losing finished trials.

Example:
    >>> study = open_study(space, "sqlite:///runs/tune/digits.db", "digits", sampler="tpe")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from ..errors import KerasforgeError, RecipeError
from ..recipe import PrunerSpec
from .space import SearchSpace

SAMPLERS = ("tpe", "random", "grid", "gp")
SURPLUS = "kforge_surplus"  # user attr of a trial started after the target was already reached


def default_storage(output_dir: str | Path, study_name: str) -> str:
    """``sqlite:///<output>/tune/<study>.db`` (the folder is created).

    >>> default_storage("runs", "digits")   # doctest: +SKIP
    'sqlite:////abs/path/runs/tune/digits.db'
    """
    folder = Path(output_dir) / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / f'{study_name}.db').resolve()}"


ENV_HEARTBEAT = "KFORGE_TUNE_HEARTBEAT"  # seconds between a running trial's heartbeats (default 10)
MAX_RETRIES = 2  # a trial whose machine died is run again (same parameters) at most this often


def heartbeat_settings() -> tuple[int, int]:
    """Optuna's ``(heartbeat_interval, grace_period)``: ``$KFORGE_TUNE_HEARTBEAT`` (default 10 s) and six
    times that. A RUNNING trial without a heartbeat for the grace period is failed and retried by any worker.

    >>> heartbeat_settings()   # doctest: +SKIP
    (10, 60)
    """
    try:
        interval = max(1, int(float(os.environ.get(ENV_HEARTBEAT, "10"))))
    except ValueError:
        interval = 10
    return interval, 6 * interval


def make_storage(url: str) -> Any:
    """An Optuna RDB storage for ``url`` with Optuna's heartbeat on (a dead machine's RUNNING trials are
    failed after the grace period and retried with the same parameters, see :func:`recover_stale_trials`);
    SQLite waits for locks instead of failing under several workers."""
    import optuna

    interval, grace = heartbeat_settings()
    kwargs: dict[str, Any] = {"heartbeat_interval": interval, "grace_period": grace}
    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
        kwargs["heartbeat_stale_trial_callback"] = optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRIES)
    else:
        kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRIES)
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # SQLAlchemy raises many kinds: bad URL, missing driver, no server
        raise KerasforgeError(f"cannot open the study storage {url!r}: {type(exc).__name__}: {exc}",
                              where="--storage",
                              fix="Give an SQLAlchemy URL such as sqlite:///tune.db or "
                                  "postgresql://user:password@host/db (with its driver installed).") from None


def make_sampler(kind: str, seed: int) -> Any:
    """The Optuna sampler for ``kind``; a grid is run from the study's queue of grid points."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind in ("random", "grid"):  # grid points are enqueued (see enqueue_grid): every one exactly once
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "gp":
        require_gp()
        return optuna.samplers.GPSampler(seed=seed)
    raise KerasforgeError(f"unknown sampler {kind!r}", where="--sampler", fix=f"Use one of {', '.join(SAMPLERS)}.")


def require_gp() -> None:
    """Optuna's Gaussian-process sampler needs PyTorch (and SciPy): a clear error when they are missing."""
    missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        raise KerasforgeError(
            f"the gp sampler (Optuna's GPSampler) needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            where="--sampler gp",
            fix=f"Install {' '.join(missing)} (CPU build: pip install torch --index-url "
                "https://download.pytorch.org/whl/cpu), or use --sampler tpe, which needs nothing more.")


def make_pruner(spec: PrunerSpec) -> Any:
    """The Optuna pruner a recipe's ``search.pruner`` describes."""
    import optuna

    classes = {"median": "MedianPruner", "percentile": "PercentilePruner", "threshold": "ThresholdPruner",
               "hyperband": "HyperbandPruner", "successive_halving": "SuccessiveHalvingPruner",
               "patient": "PatientPruner", "none": "NopPruner"}
    kwargs = spec.kwargs
    if spec.type == "patient":  # PatientPruner wraps another pruner (median by default)
        wrapped = kwargs.pop("wrapped", "median")
        kwargs["wrapped_pruner"] = make_pruner(PrunerSpec.model_validate(
            {"type": wrapped} if isinstance(wrapped, str) else wrapped))
        kwargs.setdefault("patience", 1)
    try:
        return getattr(optuna.pruners, classes[spec.type])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{spec.type} pruner: {exc}", where="search.pruner",
                          fix=f"Use the keyword arguments of optuna.pruners.{classes[spec.type]}.") from None


def open_study(space: SearchSpace, storage: Any, study_name: str, sampler: str, seed: int,
               create: bool = True) -> Any:
    """Create or load the study; a study made from another recipe or sampler is refused, not mixed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = space.search.objective.resolved_direction
    kwargs = {"study_name": study_name, "storage": storage, "sampler": make_sampler(sampler, seed),
              "pruner": make_pruner(space.search.pruner)}
    if not create:
        return optuna.load_study(**kwargs)
    study = optuna.create_study(direction=direction, load_if_exists=True, **kwargs)
    expected = {"kforge_fingerprint": space.fingerprint(), "kforge_sampler": sampler}
    found = {k: study.user_attrs.get(k) for k in expected}
    if not any(found.values()):
        for key, value in expected.items():
            study.set_user_attr(key, value)
        study.set_user_attr("kforge_recipe", space.name)
        study.set_user_attr("kforge_objective", space.search.objective.model_dump(mode="json"))
    elif found != expected or study.direction.name.lower() != direction:
        what = "sampler" if found["kforge_sampler"] != sampler else "recipe or search"
        raise KerasforgeError(
            f"the study {study_name!r} in this storage was started with a different {what} "
            f"(sampler {found['kforge_sampler']}); its trials would not be comparable",
            where="--study", fix="Give this search its own --study name, or delete the old study's storage.")
    return study


def fail_orphaned_trials(study: Any, space: SearchSpace | None = None, runs_dir: str | Path | None = None) -> list[int]:
    """Mark RUNNING trials whose worker process is gone (killed, crashed) as FAIL; returns their numbers.

    Workers record their host and pid in each trial; a trial of this host whose process no longer
    exists cannot finish, and would otherwise block a grid point or count against the target. One whose
    run folder (in ``runs_dir``) finished before its process died is recorded as it ended instead.
    """
    from optuna.trial import TrialState

    from ..lifecycle import pid_alive

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("kforge_worker") or {}
        if worker.get("host") == socket.gethostname() and not pid_alive(worker.get("pid")):
            if space is not None and runs_dir is not None and salvage_trial(study, trial.number, space, runs_dir):
                continue
            try:
                study._storage.set_trial_user_attr(trial._trial_id, "kforge_error",
                                                   "its worker process stopped (killed or crashed)")
                if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    failed.append(trial.number)
            except Exception:  # another process finished or failed it meanwhile
                pass
    return failed


def recover_stale_trials(study: Any, space: SearchSpace, runs_dir: str | Path) -> None:
    """Optuna's heartbeat: RUNNING trials of any machine silent for the grace period are failed and queued
    again with the same parameters (``RetryFailedTrialCallback``); one whose run folder is visible here and
    finished is recorded as it ended instead (complete or pruned), never as failed."""
    import optuna

    storage = study._storage
    stale = getattr(storage, "_get_stale_trial_ids", None)
    if stale is None or storage.get_heartbeat_interval() is None:
        return
    number_of = {t._trial_id: t.number for t in study.get_trials(deepcopy=False)}
    fail_silent_trials(study)
    for trial_id in stale(study._study_id):
        if trial_id in number_of:
            salvage_trial(study, number_of[trial_id], space, runs_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def fail_silent_trials(study: Any) -> list[int]:
    """Fail RUNNING trials that never sent a heartbeat and started longer ago than the grace period.

    Optuna's stale check looks only at trials with a heartbeat, so a machine killed between creating a
    trial and its first beat would leave it RUNNING for ever, and the study short of its count (seen in a CI
    run: every other worker waited on it). Such a trial had not started training, so it is failed, not
    retried: the study simply asks for another. Returns the numbers failed.
    """
    from datetime import datetime, timedelta

    from optuna.trial import TrialState

    storage = study._storage
    rdb = getattr(storage, "_backend", storage)  # Optuna wraps its RDB storage in a cache
    grace = getattr(rdb, "grace_period", None) or 2 * (storage.get_heartbeat_interval() or 0)
    silent = _trial_ids_without_heartbeat(rdb, study._study_id)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start
        if trial._trial_id not in silent or started is None or datetime.now() - started < timedelta(seconds=grace):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "kforge_error",
                                        f"its worker sent no heartbeat within {grace} s of starting it (killed)")
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except Exception:  # another worker failed or finished it meanwhile
            pass
    return failed


def _trial_ids_without_heartbeat(storage: Any, study_id: int) -> set[int]:
    """RUNNING trials of ``study_id`` with no heartbeat row (Optuna's RDB tables; empty if they change)."""
    try:
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        session = storage.scoped_session()
        try:
            rows = (session.query(models.TrialModel.trial_id)
                    .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING,
                            ~models.TrialModel.heartbeats.any()).all())
        finally:
            session.close()
        return {row[0] for row in rows}
    except Exception:  # noqa: BLE001 - an Optuna without these tables: its own check is all there is
        return set()


def finished_run_of(space: SearchSpace, runs_dir: str | Path, number: int) -> Path | None:
    """The finished (or pruned) run folder with a saved model of trial ``number``, if it is visible here."""
    from ..runs import read_json

    for folder in sorted(Path(runs_dir).glob(f"{space.name}-trial{number:03d}-*"), reverse=True):
        status = (read_json(folder / "run.json", {}) or {}).get("status")
        if status in ("finished", "pruned") and (folder / "model.keras").is_file():
            return folder
    return None


def salvage_trial(study: Any, number: int, space: SearchSpace, runs_dir: str | Path) -> bool:
    """Record trial ``number`` from its finished run folder (its worker died before telling the study);
    returns whether it was recorded."""
    from optuna.trial import TrialState

    from ..runs import read_json
    from .worker import objective_value

    folder = finished_run_of(space, runs_dir, number)
    if folder is None:
        return False
    info = read_json(folder / "run.json", {}) or {}
    objective = space.search.objective
    try:
        study._storage.set_trial_user_attr(_trial_id(study, number), "run_dir", str(folder))
        if info.get("status") == "pruned":
            study.tell(number, state=TrialState.PRUNED)
        else:
            value = objective_value(read_json(folder / "history.json", {}) or {},
                                    read_json(folder / "metrics.json", {}) or {}, objective.metric,
                                    objective.resolved_direction, objective.epoch)
            study.tell(number, value)
    except Exception:  # another worker recorded or failed it meanwhile
        return False
    return True


def _trial_id(study: Any, number: int) -> int:
    return next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)


def heartbeat(study: Any, trial: Any) -> Any:
    """A context manager that keeps ``trial``'s heartbeat going while it trains (Optuna's own thread,
    as ``study.optimize`` uses; kerasforge's workers ask and tell)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)


def enqueue_grid(study: Any, space: SearchSpace) -> int:
    """Queue every grid point that no trial has finished, is running or waits for; returns how many."""
    from optuna.trial import TrialState

    taken = set()
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS):
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            taken.add(_key(trial.params))
        elif trial.state == TrialState.WAITING:
            taken.add(_key(trial.system_attrs.get("fixed_params", {})))
    added = 0
    for point in space.grid():
        if _key(point) not in taken:
            study.enqueue_trial(point)
            added += 1
    return added


BASELINE = "baseline"  # user attribute of the trial that runs the recipe's own values


def enqueue_baseline(study: Any, values: dict[str, Any]) -> bool:
    """Queue the recipe's own values (``SearchSpace.baseline()``) as the study's first trial, once."""
    if study.get_trials(deepcopy=False):
        return False  # a resumed study already has (or had) its baseline
    study.enqueue_trial(values, user_attrs={BASELINE: True})
    return True


def baseline_trial(study: Any) -> Any | None:
    """The finished baseline trial of ``study`` (see :func:`enqueue_baseline`), if it has one."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE) and trial.state == TrialState.COMPLETE:
            return trial
    return None


def counts(study: Any) -> dict[str, int]:
    """Trials per state (surplus trials left out), e.g. ``{"COMPLETE": 3, "PRUNED": 1}``."""
    result: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        if not trial.user_attrs.get(SURPLUS):
            result[trial.state.name] = result.get(trial.state.name, 0) + 1
    return result


def worker_tag() -> dict[str, Any]:
    """Who runs a trial: this host and process."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))
