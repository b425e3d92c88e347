"""Logging a real run folder to a real MLflow SQLite store, read back with MlflowClient."""

from __future__ import annotations

import json

import pytest

from kerasforge.tracking import end_run, log_run, start_parent_run


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_run_is_logged_with_params_metrics_artifacts_and_tags(run_copy, store):
    run_id = log_run(run_copy, tracking_uri=store, tags={"team": "vision"})
    client = client_for(store)
    experiment = client.get_experiment_by_name("digits_track")  # default: the recipe name
    found = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in found] == [run_id]
    run = found[0]
    assert run.info.status == "FINISHED" and run.info.run_name == run_copy.name

    params = run.data.params
    assert params["train.epochs"] == "3"
    assert params["train.optimizer.learning_rate"] == "0.01"
    assert params["data.dataset"] == "digits"
    assert params["model.layers.1.units"] == "32"

    history = json.loads((run_copy / "history.json").read_text())
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        points = client.get_metric_history(run_id, key)
        assert [p.step for p in points] == [1, 2, 3], key
        assert [p.value for p in points] == pytest.approx(history[key]), key
    final = json.loads((run_copy / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(final["test_accuracy"])
    assert run.data.metrics["test_loss"] == pytest.approx(final["test_loss"])
    assert final["test_accuracy"] > 0.5  # a real, trained model

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"model.keras", "recipe.yaml", "metrics.json", "history.json", "data.json", "env.json"} <= artifacts
    if (run_copy / "plots").is_dir():
        assert "plots" in artifacts
    if (run_copy / "report.html").is_file():
        assert "report.html" in artifacts

    tags = run.data.tags
    assert tags["dataset"] == "digits" and tags["backend"] == "tensorflow" and tags["recipe"] == "digits_track"
    assert tags["run_folder"] == str(run_copy.resolve()) and tags["kerasforge_version"]
    assert tags["host"] and tags["team"] == "vision"
    assert "mlflow.parentRunId" not in tags
    # this test runs inside the kerasforge git checkout when there is one
    commit = tags.get("git_commit")
    assert commit is None or len(commit) == 40

    info = json.loads((run_copy / "run.json").read_text())
    assert info["mlflow_run_id"] == run_id and info["tracking_uri"] == store


def test_artifacts_live_under_the_output_dir_not_the_working_dir(run_copy, tmp_path, monkeypatch):
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    run_id = log_run(run_copy)  # default store: beside the run folder
    runs = run_copy.parent
    assert (runs / "mlflow.db").is_file()
    client = client_for(f"sqlite:///{runs / 'mlflow.db'}")
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith(str(runs / "mlartifacts")), artifact_uri
    assert (runs / "mlartifacts").is_dir() and any((runs / "mlartifacts").rglob("model.keras"))
    assert not any(work.iterdir()), list(work.iterdir())  # no ./mlruns
    for experiment in client.search_experiments():
        assert experiment.artifact_location.startswith(str(runs / "mlartifacts")), experiment.artifact_location


def test_logging_the_same_run_twice_gives_the_same_run(run_copy, store):
    first = log_run(run_copy, tracking_uri=store)
    parent = start_parent_run("late-study", tracking_uri=store, experiment="digits_track")
    assert log_run(run_copy, tracking_uri=store, parent_run_id=parent, tags={"optuna.trial": "3"}) == first
    experiment = client_for(store).get_experiment_by_name("digits_track")
    runs = client_for(store).search_runs([experiment.experiment_id], filter_string="tags.recipe = 'digits_track'")
    assert [r.info.run_id for r in runs] == [first]
    assert runs[0].data.tags["mlflow.parentRunId"] == parent and runs[0].data.tags["optuna.trial"] == "3"


def test_child_runs_nest_under_a_parent(run_copy, store):
    parent = start_parent_run("study-1", tracking_uri=store, experiment="tuning", params={"sampler": "tpe"})
    child = log_run(run_copy, tracking_uri=store, experiment="tuning", parent_run_id=parent,
                    tags={"optuna.trial": "0"})
    end_run(parent, status="FINISHED")
    client = client_for(store)
    experiment = client.get_experiment_by_name("tuning")
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert [r.info.run_id for r in children] == [child]
    assert children[0].data.tags["optuna.trial"] == "0"
    parent_run = client.get_run(parent)
    assert parent_run.info.status == "FINISHED" and parent_run.data.params["sampler"] == "tpe"
    assert parent_run.info.run_name == "study-1"


def test_kforge_track_logs_a_saved_run_later(run_copy, store, capsys):
    from kerasforge.cli import main

    assert main(["track", str(run_copy), "--tracking-uri", store, "--experiment", "later"]) == 0
    run_id = json.loads((run_copy / "run.json").read_text())["mlflow_run_id"]
    assert f"mlflow run {run_id}" in capsys.readouterr().out
    assert client_for(store).get_run(run_id).info.experiment_id == \
        client_for(store).get_experiment_by_name("later").experiment_id
