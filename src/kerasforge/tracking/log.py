"""Log a finished run folder to MLflow: recipe as params, history and metrics, artifacts, tags.

The run folder stays the source of truth: logging reads only its files, so a run can be logged long
after training (``kforge track RUN``), and a failed logging never touches the model.

Example:
    >>> run_id = log_run("runs/digits_mlp-20261123-101500")                       # doctest: +SKIP
    >>> parent = start_parent_run("study-1", tracking_uri="http://127.0.0.1:5000")  # doctest: +SKIP
    >>> log_run(trial_folder, tracking_uri="http://127.0.0.1:5000", parent_run_id=parent)  # doctest: +SKIP
    >>> end_run(parent)                                                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import getpass
import math
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import KerasforgeError
from ..runs import Run, read_json, update_run_info
from ..training.callbacks import write_json_atomic
from .params import flatten_params
from .store import TrackingError, experiment_id, make_client, resolve_tracking_uri, tracking_errors

ARTIFACT_FILES = ("model.keras", "recipe.yaml", "metrics.json", "history.json", "data.json", "env.json",
                  "run.json", "report.html", "evaluation.json", "diagnosis.json")
ARTIFACT_DIRS = ("plots",)
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "running": "KILLED",
          "pruned": "KILLED"}
_PARENTS: dict[str, str] = {}  # parent run id -> tracking URI, for end_run
PENDING = "tracking_pending"  # run.json: logging failed; what `kforge track` needs to log it later
STUDY_TAG = "kforge.study"  # the tag of a study's (parent) run


def log_run(run_or_path: Run | str | Path, *, tracking_uri: str | None = None, experiment: str | None = None,
            parent_run_id: str | None = None, tags: dict | None = None,
            output_dir: str | Path | None = None) -> str:
    """Log a run folder to MLflow and return the MLflow run id (also written to its ``run.json``).

    The store is :func:`resolve_tracking_uri` (``tracking_uri``, the environment, or the embedded store
    of ``output_dir``, by default the folder that holds the run). The experiment defaults to the recipe
    name; with ``parent_run_id`` the run is nested under that run. A run already logged to the same
    store is not logged twice: its id is returned. Raises :class:`TrackingError` when the store cannot
    be reached or written.

    >>> run_id = log_run("runs/digits_mlp-20261123-101500", tags={"team": "vision"})  # doctest: +SKIP
    """
    path = Path(run_or_path.path if isinstance(run_or_path, Run) else run_or_path).resolve()
    info = read_json(path / "run.json", None)
    if not isinstance(info, dict):
        raise KerasforgeError(f"{path} is not a kerasforge run folder (it has no readable run.json)",
                              where=str(path), fix="Give a folder made by `kforge train`, e.g. runs/NAME-DATE.")
    pending = info.get(PENDING) if isinstance(info.get(PENDING), dict) else {}
    # `kforge track` of a run queued after a failure: the same store, experiment, parent and tags as then
    tracking_uri = tracking_uri or pending.get("tracking_uri")
    experiment = experiment or pending.get("experiment")
    parent_run_id = parent_run_id or pending.get("parent_run_id")
    tags = {**(pending.get("tags") or {}), **(tags or {})}
    uri = resolve_tracking_uri(tracking_uri, output_dir or path.parent)
    try:
        run_id = _log_run(path, info, uri, experiment, parent_run_id, tags, output_dir)
    except TrackingError as exc:
        queue_run(path, uri, experiment=experiment, parent_run_id=parent_run_id, tags=tags, error=exc.message)
        raise TrackingError(f"{exc.message}; the run is queued: `kforge track {path}` logs it once the store "
                            f"is back (`kforge track --pending` logs every queued run)", where=exc.where,
                            fix=exc.fix) from exc
    if pending:
        info = read_json(path / "run.json", {}) or {}
        info.pop(PENDING, None)
        write_json_atomic(path / "run.json", info)
    return run_id


def queue_run(path: str | Path, uri: str, *, experiment: str | None = None, parent_run_id: str | None = None,
              tags: dict | None = None, error: str = "") -> None:
    """Record in ``run.json`` that the run waits to be logged to ``uri`` (see :func:`pending_runs`)."""
    update_run_info(Path(path), **{PENDING: {"tracking_uri": uri, "experiment": experiment,
                                             "parent_run_id": parent_run_id, "tags": dict(tags or {}),
                                             "error": error[:1000], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}})


def pending_runs(output_dir: str | Path) -> list[Path]:
    """Run folders under ``output_dir`` (tuning trials included) whose logging failed and waits for
    ``kforge track``.

    >>> pending_runs("runs")   # doctest: +SKIP
    [PosixPath('runs/digits_mlp-20261129-091500')]
    """
    found = []
    for run_json in sorted([*Path(output_dir).glob("*/run.json"), *Path(output_dir).glob("tune/*/*/run.json")]):
        if isinstance((read_json(run_json, {}) or {}).get(PENDING), dict):
            found.append(run_json.parent)
    return found


def _log_run(path: Path, info: dict[str, Any], uri: str, experiment: str | None, parent_run_id: str | None,
             tags: dict, output_dir: str | Path | None) -> str:
    client = make_client(uri)
    if info.get("study") is not None and not (parent_run_id and _exists(client, parent_run_id)):
        # a tuning trial: under its study's run (found by its tag, or opened now), with Optuna's tags
        experiment = experiment or _study_experiment(path, info)
        parent_run_id = study_parent_run(client, uri, str(info["study"]), experiment, output_dir or path.parent)
        tags = {"optuna.study": str(info["study"]), "optuna.trial": str(info.get("trial")),
                "optuna.state": "PRUNED" if info.get("status") == "pruned" else "COMPLETE", **tags}
    if info.get("mlflow_run_id") and info.get("tracking_uri") == uri and _exists(client, info["mlflow_run_id"]):
        run_id = str(info["mlflow_run_id"])  # logged already (e.g. by `kforge train`): add what is new
        extra = {**({"mlflow.parentRunId": parent_run_id} if parent_run_id else {}),
                 **{str(k): str(v) for k, v in (tags or {}).items()}}
        with tracking_errors(uri, f"tag the run {path.name}"):
            for key, value in extra.items():
                client.set_tag(run_id, key, value)
        return run_id
    recipe = read_json_yaml(path / "recipe.yaml")
    name = str(info.get("name") or recipe.get("name") or path.name)
    with tracking_errors(uri, f"log the run {path.name}"):
        exp = experiment_id(client, experiment or name, uri, output_dir or path.parent)
        run_tags = {**run_tags_for(path, info, name), **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {}),
                    **{str(k): str(v) for k, v in (tags or {}).items()}}
        started = _millis(info.get("started")) or int(time.time() * 1000)
        run = client.create_run(exp, start_time=started, tags=run_tags, run_name=path.name)
        run_id = run.info.run_id
        _log_values(client, run_id, flatten_params(recipe), path, _millis(info.get("finished")) or started)
        _log_artifacts(client, run_id, path)
        client.set_terminated(run_id, status=STATUS.get(str(info.get("status")), "FINISHED"),
                              end_time=_millis(info.get("finished")) or int(time.time() * 1000))
    update_run_info(path, mlflow_run_id=run_id, tracking_uri=uri, mlflow_experiment_id=exp)
    from ..lifecycle import set_parts

    set_parts(path, tracking="done")
    return run_id


def study_parent_run(client: Any, uri: str, study: str, experiment: str, output_dir: str | Path) -> str:
    """The MLflow run of tuning study ``study`` in ``experiment`` (tagged ``kforge.study``); opened when the
    study's own tracking never reached this store (an outage)."""
    with tracking_errors(uri, f"find the run of the study {study!r}"):
        exp = experiment_id(client, experiment, uri, output_dir)
        found = client.search_runs([exp], filter_string=f"tags.`{STUDY_TAG}` = '{study}'", max_results=1)
        if found:
            return found[0].info.run_id
    run_id = start_parent_run(study, tracking_uri=uri, experiment=experiment, output_dir=output_dir)
    with tracking_errors(uri, f"tag the run of the study {study!r}"):
        client.set_tag(run_id, STUDY_TAG, study)
        client.set_terminated(run_id, status="FINISHED")
    _PARENTS.pop(run_id, None)
    return run_id


def _study_experiment(path: Path, info: dict[str, Any]) -> str:
    """A trial's experiment: the study's recipe name (the trial folders are ``<recipe>-trialNNN-<date>``)."""
    name = str(info.get("name") or path.name)
    return name.rsplit("-trial", 1)[0] if "-trial" in name else name


def start_parent_run(name: str, *, tracking_uri: str | None = None, experiment: str | None = None,
                     params: dict | None = None, output_dir: str | Path = "runs") -> str:
    """Open a parent run (e.g. a tuning study) for nested child runs; returns its id. Close it with
    :func:`end_run`.

    >>> parent = start_parent_run("study-1", experiment="digits_mlp", params={"sampler": "tpe"})  # doctest: +SKIP
    """
    uri = resolve_tracking_uri(tracking_uri, output_dir)
    client = make_client(uri)
    with tracking_errors(uri, f"start the parent run {name!r}"):
        exp = experiment_id(client, experiment or name, uri, output_dir)
        run = client.create_run(exp, tags={**_base_tags(), STUDY_TAG: name}, run_name=name)
        if params:
            _log_batches(client, run.info.run_id, params=flatten_params(params))
    _PARENTS[run.info.run_id] = uri
    return run.info.run_id


def end_run(run_id: str, status: str = "FINISHED", *, tracking_uri: str | None = None,
            output_dir: str | Path = "runs") -> None:
    """Mark a run started by :func:`start_parent_run` as ended (``FINISHED``, ``FAILED`` or ``KILLED``).

    >>> end_run(parent, status="FINISHED")   # doctest: +SKIP
    """
    uri = _PARENTS.get(run_id) or resolve_tracking_uri(tracking_uri, output_dir)
    client = make_client(uri)
    with tracking_errors(uri, f"end the run {run_id}"):
        client.set_terminated(run_id, status=status)
    _PARENTS.pop(run_id, None)


def run_tags_for(path: Path, info: dict[str, Any], name: str) -> dict[str, str]:
    """The tags of a logged run: dataset, backend, git commit, host, versions, folder and recipe."""
    data = read_json(path / "data.json", {}) or {}
    env = read_json(path / "env.json", {}) or {}
    tags = {**_base_tags(), "recipe": name, "run_folder": str(path), "host": str(info.get("host") or socket.gethostname()),
            "kerasforge_version": str(info.get("kerasforge") or __version__)}
    if data.get("dataset"):
        tags["dataset"] = str(data["dataset"])
    if env.get("backend"):
        tags["backend"] = str(env["backend"])
        tags["keras_version"] = str(env.get("keras", ""))
    return tags


def git_commit(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the working directory's repository, or ``None`` outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 7 else None


def read_json_yaml(path: Path) -> dict[str, Any]:
    """The recipe YAML of a run folder as a mapping (empty when missing)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------------------------------
def _base_tags() -> dict[str, str]:
    tags = {"mlflow.source.name": "kerasforge", "mlflow.source.type": "LOCAL", "kerasforge_version": __version__}
    with contextlib.suppress(KeyError, OSError):
        tags["mlflow.user"] = getpass.getuser()
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    return tags


def _log_values(client: Any, run_id: str, params: dict[str, str], path: Path, finished_ms: int) -> None:
    from mlflow.entities import Metric

    history = read_json(path / "history.json", {}) or {}
    epochs = history.get("epoch") or list(range(1, 1 + max((len(v) for v in history.values()), default=0)))
    metrics = []
    for key, values in history.items():
        if key == "epoch" or not isinstance(values, list):
            continue
        for step, value in zip(epochs, values, strict=False):
            if _number(value):
                metrics.append(Metric(key, float(value), finished_ms, int(step)))
    final = read_json(path / "metrics.json", {}) or {}
    metrics += [Metric(k, float(v), finished_ms, 0) for k, v in final.items() if _number(v)]
    _log_batches(client, run_id, params=params, metrics=metrics)


def _log_batches(client: Any, run_id: str, *, params: dict[str, str] | None = None, metrics: list | None = None) -> None:
    """MLflow takes at most 100 params and 1000 metrics per request."""
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in (params or {}).items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])
    metrics = metrics or []
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])


def _log_artifacts(client: Any, run_id: str, path: Path) -> None:
    for name in ARTIFACT_FILES:
        if (path / name).is_file():
            client.log_artifact(run_id, str(path / name))
    for name in ARTIFACT_DIRS:
        if (path / name).is_dir() and any((path / name).iterdir()):
            client.log_artifacts(run_id, str(path / name), artifact_path=name)


def _exists(client: Any, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:
        return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _millis(stamp: Any) -> int | None:
    try:
        return int(time.mktime(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%S")) * 1000)
    except (TypeError, ValueError, OverflowError):
        return None
