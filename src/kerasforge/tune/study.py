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


def make_storage(url: str) -> Any:
    """An Optuna RDB storage for ``url``; SQLite waits for locks instead of failing under several workers."""
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    try:
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


def fail_orphaned_trials(study: Any) -> list[int]:
    """Mark RUNNING trials whose worker process is gone (killed, crashed) as FAIL; returns their numbers.

    Workers record their host and pid in each trial; a trial of this host whose process no longer
    exists cannot finish, and would otherwise block a grid point or count against the target.
    """
    from optuna.trial import TrialState

    from ..runs import _alive

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("kforge_worker") or {}
        if worker.get("host") == socket.gethostname() and not _alive(worker.get("pid")):
            try:
                study._storage.set_trial_user_attr(trial._trial_id, "kforge_error",
                                                   "its worker process stopped (killed or crashed)")
                if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    failed.append(trial.number)
            except Exception:  # another process finished or failed it meanwhile
                pass
    return failed


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
