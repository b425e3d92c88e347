"""Logging to a real MLflow tracking server process on 127.0.0.1 (SQLite backend; PostgreSQL when available)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerasforge.tracking import end_run, log_run, start_parent_run

pytestmark = pytest.mark.slow  # starts a server process (~10-30 s on a shared machine)


def check_logged(url: str, run_dir: Path, run_id: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    run = client.get_run(run_id)
    assert run.data.params["train.epochs"] == "3"
    assert len(client.get_metric_history(run_id, "val_loss")) == 3
    assert {"model.keras", "recipe.yaml"} <= {a.path for a in client.list_artifacts(run_id)}
    local = client.download_artifacts(run_id, "metrics.json", str(run_dir.parent))
    assert json.loads(Path(local).read_text()) == json.loads((run_dir / "metrics.json").read_text())
    assert run.data.tags["run_folder"] == str(run_dir.resolve())


def test_log_to_a_tracking_server(run_copy, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    run_id = log_run(run_copy, tracking_uri=mlflow_server)
    check_logged(mlflow_server, run_copy, run_id)
    assert json.loads((run_copy / "run.json").read_text())["tracking_uri"] == mlflow_server


def test_environment_variable_points_at_the_server_and_children_nest(run_copy, mlflow_server, monkeypatch):
    monkeypatch.setenv("KFORGE_TRACKING_URI", mlflow_server)
    parent = start_parent_run("server-study", experiment="server-tuning")
    child = log_run(run_copy, experiment="server-tuning", parent_run_id=parent)
    end_run(parent)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    assert client.get_run(child).data.tags["mlflow.parentRunId"] == parent
    assert client.get_run(parent).info.status == "FINISHED"
    assert not (run_copy.parent / "mlflow.db").exists()  # nothing went to the local store


def test_log_to_a_server_with_a_postgresql_backend(run_copy, postgres_mlflow_server):
    url = postgres_mlflow_server["url"]  # the session's server (test_log_outage stops and restarts its database)
    run_id = log_run(run_copy, tracking_uri=url)
    check_logged(url, run_copy, run_id)
