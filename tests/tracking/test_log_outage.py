"""Tracking that never stalls training: a real MLflow server whose database is down, a run that finishes
anyway (queued for `kforge track`), logged once the database is back; tuning trials logged after an
outage land under their study's run with Optuna's tags."""

from __future__ import annotations

import json
import time

import pytest

from kerasforge.cli import main
from kerasforge.tracking import log_run, pending_runs
from kerasforge.tracking.store import HTTP_LIMITS, TrackingError

DIGITS_RECIPE = {  # as the shared trained run of conftest.py
    "name": "digits_track",
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 3, "batch_size": 64, "optimizer": {"type": "adam", "learning_rate": 0.01}},
}


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


@pytest.mark.slow
def test_a_server_whose_database_is_down_costs_seconds_and_the_run_is_logged_later(
        tmp_path, postgres_mlflow_server, monkeypatch, capfd):
    import kerasforge

    monkeypatch.delenv("KFORGE_NO_TRACK", raising=False)
    for name in HTTP_LIMITS:  # kerasforge's bounds, not a value from the environment (and none left behind)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    # A user's own timeout is kept (test_tracking_store checks kerasforge's 5 s default): 1 s here keeps the
    # outage short. The bound below is in timeouts: kerasforge's one retry costs two, MLflow's own 7 retries
    # with their backoff (over a minute even at 1 s) would fail it as they would at the default.
    timeout = 1.0
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout)))
    pg, url = postgres_mlflow_server, postgres_mlflow_server["url"]
    pg["stop"]()  # the server answers, its database does not
    try:
        start = time.perf_counter()
        kerasforge.train(DIGITS_RECIPE, output_dir=tmp_path / "untracked", show_summary=False, track=False)
        untracked = time.perf_counter() - start
        start = time.perf_counter()
        run = kerasforge.train(DIGITS_RECIPE, output_dir=tmp_path / "runs", show_summary=False, tracking_uri=url)
        tracked = time.perf_counter() - start
    finally:
        pg["start"]()  # the database is back (for `kforge track --pending` below, and the session's other tests)
    shown = capfd.readouterr().err  # kerasforge talks on stderr
    print(f"OUTAGE tracked {tracked:.1f} s, untracked {untracked:.1f} s")
    # 2 tries that wait out the timeout; 6 timeouts (30 s at the default 5 s), plus 8 s to import MLflow
    assert tracked - untracked < 6 * timeout + 8, (tracked, untracked)  # MLflow's defaults: minutes
    assert "warning: tracking failed, the run is saved" in shown and "queued" in shown, shown
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished" and info["tracking_pending"]["tracking_uri"] == url
    assert pending_runs(tmp_path / "runs") == [run.path]

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")  # kerasforge's own, for a server reconnecting
    assert main(["track", "--pending", "--output", str(tmp_path / "runs")]) == 0  # logs the queued run
    info = json.loads((run.path / "run.json").read_text())
    assert "tracking_pending" not in info and info["tracking_uri"] == url
    logged = client_for(url).get_run(info["mlflow_run_id"])
    assert logged.data.params["train.epochs"] == "3" and logged.info.status == "FINISHED"
    assert pending_runs(tmp_path / "runs") == []


def trial_folder(run_copy, number: int, status: str = "finished"):
    """A copy of the trained run made to look like trial ``number`` of the study 'tiny'."""
    import shutil

    folder = run_copy.parent / f"tiny-trial{number:03d}-20261129-090000"
    shutil.copytree(run_copy, folder)
    info = json.loads((folder / "run.json").read_text())
    info.update(name=f"tiny-trial{number:03d}", study="tiny", trial=number, status=status)
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def test_trials_logged_after_an_outage_land_under_their_study_with_optuna_tags(run_copy, tmp_path):
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    first, second = trial_folder(run_copy, 3), trial_folder(run_copy, 4, status="pruned")
    with pytest.raises(TrackingError, match="queued"):  # the store is unreachable: queued, not lost
        log_run(first, tracking_uri="http://127.0.0.1:9", experiment="tiny",
                tags={"optuna.study": "tiny", "optuna.trial": "3", "optuna.state": "COMPLETE"})
    assert json.loads((first / "run.json").read_text())["tracking_pending"]["experiment"] == "tiny"

    ids = [log_run(first, tracking_uri=store), log_run(second, tracking_uri=store)]
    client = client_for(store)
    experiment = client.get_experiment_by_name("tiny")  # the study's, not one experiment per trial
    assert client.get_experiment_by_name(first.name) is None
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    parents = [r for r in runs.values() if r.data.tags.get("kforge.study") == "tiny"]
    assert len(parents) == 1 and len(runs) == 3  # one study run, two trials under it
    for run_id, number, state in zip(ids, ("3", "4"), ("COMPLETE", "PRUNED"), strict=True):
        tags = runs[run_id].data.tags
        assert tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert (tags["optuna.study"], tags["optuna.trial"], tags["optuna.state"]) == ("tiny", number, state)
