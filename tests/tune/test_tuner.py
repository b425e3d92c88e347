"""Real small studies on digits, in this process: samplers, grids, pruning, the best recipe and the report."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import pytest
import yaml
from tune_helpers import make_recipe

from kerasforge.tune import tune
from kerasforge.tune.worker import objective_value


# tpe, the default sampler, runs in the default set (as in every other tune test); random and gp in the full set
@pytest.mark.parametrize("sampler", [pytest.param("random", marks=pytest.mark.full), "tpe", pytest.param("gp", marks=[
    pytest.mark.full, pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                         reason="Optuna's GP sampler needs torch (see test_space)")])])
def test_samplers_run_a_study_to_its_trial_count(tmp_path, sampler):
    search = {"params": {"train.optimizer.learning_rate": {"log_uniform": [1e-3, 3e-2]},
                         "model.layers[1].units": {"int": [8, 32], "step": 8}},
              "trials": 2, "pruner": "none"}
    result = tune(make_recipe(search), sampler=sampler, output_dir=tmp_path / "runs", report=False)
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    assert len({t.params["train.optimizer.learning_rate"] for t in trials}) == 2  # really sampled
    assert all(t.params["model.layers[1].units"] in (8, 16, 24, 32) for t in trials)
    assert result.best_value == max(t.value for t in trials) and result.best_value > 0.2  # above chance
    folders = sorted(p.name for p in (tmp_path / "runs" / "tune" / "tiny").iterdir())
    assert len(folders) == 2 and folders[0].startswith("tiny-trial000-")


@pytest.mark.slow
def test_grid_visits_exactly_the_grid_and_its_best_recipe_trains(tmp_path):
    import kerasforge

    search = {"params": {"train.batch_size": {"choice": [16, 64]},
                         "model.layers[1].units": {"choice": [8, 32]}}, "pruner": "none",
              "objective": {"metric": "val_loss", "epoch": "last"}}
    result = tune(make_recipe(search), sampler="grid", trials=99, output_dir=tmp_path / "runs")
    trials = result.study.get_trials()
    visited = sorted((t.params["train.batch_size"], t.params["model.layers[1].units"]) for t in trials)
    assert visited == sorted(itertools.product([16, 64], [8, 32]))  # every combination, once
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert result.study.direction.name == "MINIMIZE" and result.best_value == min(t.value for t in trials)
    best_run = json.loads((Path(result.best_trial.user_attrs["run_dir"]) / "history.json").read_text())
    assert result.best_value == pytest.approx(best_run["val_loss"][-1])  # last epoch, as asked

    text = result.best_recipe_path.read_text()
    assert text.startswith("# Best recipe of the kforge tune study 'tiny'")
    assert f"Trial {result.best_trial.number}: val_loss (last epoch)" in text
    best = yaml.safe_load(text)
    assert "search" not in best and best["name"] == "tiny-tuned"
    assert best["train"]["batch_size"] == result.best_params["train.batch_size"]
    assert best["model"]["layers"][1]["units"] == result.best_params["model.layers[1].units"]
    run = kerasforge.train(result.best_recipe_path, output_dir=tmp_path / "best", show_summary=False)
    assert run.metrics["test_accuracy"] > 0.3

    page = result.report_path.read_text()
    assert result.report_path.name == "tiny.html"
    assert page.count("data:image/png;base64,") == 3  # history, importances, parallel coordinates
    assert "<tr class=\"best\">" in page and "train.batch_size" in page


@pytest.mark.slow
def test_pruning_stops_a_hopeless_trial_early(tmp_path):
    search = {"params": {"train.optimizer.learning_rate": {"choice": [0.01, 0.005, 30.0]}},
              "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0}}
    result = tune(make_recipe(search, train={"epochs": 4}), sampler="grid", output_dir=tmp_path / "runs",
                  report=False)
    by_lr = {t.params["train.optimizer.learning_rate"]: t for t in result.study.get_trials()}
    hopeless = by_lr[30.0]
    assert hopeless.state.name == "PRUNED"
    assert hopeless.user_attrs["epochs_done"] < 4
    info = json.loads((Path(hopeless.user_attrs["run_dir"]) / "run.json").read_text())
    assert info["status"] == "pruned" and info["pruned_after_epoch"] < 4
    assert by_lr[0.01].state.name == "COMPLETE" and by_lr[0.01].user_attrs["epochs_done"] == 4


def test_objective_value_best_or_last_epoch():
    history = {"val_loss": [0.9, 0.4, 0.6], "val_accuracy": [0.5, 0.9, 0.8]}
    assert objective_value(history, {}, "val_loss", "minimize") == 0.4
    assert objective_value(history, {}, "val_loss", "minimize", "last") == 0.6
    assert objective_value(history, {}, "val_accuracy", "maximize") == 0.9
    assert objective_value({}, {"test_accuracy": 0.7}, "test_accuracy", "maximize") == 0.7


def test_timeout_is_a_budget_no_trial_starts_after_it(tmp_path):
    search = {"params": {"train.batch_size": {"choice": [16, 32]}}, "trials": 5}
    result = tune(make_recipe(search), timeout=1e-6, output_dir=tmp_path / "runs")
    assert result.counts == {} and result.best_trial is None and result.best_recipe_path is None
    assert "no trial has completed yet" in result.report_path.read_text()


@pytest.mark.slow
def test_the_shipped_fashion_mnist_tuning_recipe_runs(tmp_path):
    from kerasforge.tune import load_search

    space = load_search("fashion_mnist_cnn_tune")
    assert space.search.objective.metric == "val_accuracy" and space.search.timeout
    assert set(space.search.params) == {"train.optimizer.learning_rate", "model.layers[6].rate",
                                        "model.layers[5].units", "train.batch_size"}
    assert space.base["model"]["layers"][6]["type"] == "Dropout" and space.base["model"]["layers"][5]["type"] == "Dense"
    result = tune("fashion_mnist_cnn_tune", trials=1, output_dir=tmp_path / "runs", report=False,
                  overrides=["data.subset=200", "train.epochs=1"])
    assert result.counts == {"COMPLETE": 1}
    assert result.study.trials[0].user_attrs.get("baseline") is True  # the untuned recipe runs first
    assert result.study.trials[0].params["model.layers[5].units"] == 128


@pytest.mark.slow
def test_trials_are_mlflow_child_runs_of_the_study(tmp_path, monkeypatch):
    pytest.importorskip("kerasforge.tracking")
    import mlflow

    monkeypatch.delenv("KFORGE_NO_TRACK")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search = {"params": {"train.batch_size": {"choice": [16]}}, "pruner": "none"}
    result = tune(make_recipe(search), sampler="grid", output_dir=tmp_path / "runs", report=False,
                  tracking_uri=uri)
    parent = result.study.user_attrs["kforge_mlflow_parent"]
    assert parent["uri"] == uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent['run_id']}'")
    assert [c.data.tags["optuna.trial"] for c in children] == ["0"]
    assert client.get_run(parent["run_id"]).info.status == "FINISHED"
    assert len(client.search_runs([experiment.experiment_id])) == 2  # the study and its trial, nothing twice


def test_baseline_trial_runs_the_recipes_own_values_first(tmp_path):
    search = {"params": {"train.optimizer.learning_rate": {"log_uniform": [1e-3, 3e-2]},
                         "model.layers[1].units": {"choice": [8, 16, 32]},
                         "train.batch_size": {"int": [16, 64], "step": 16}},
              "trials": 2, "pruner": "none", "baseline": True}
    result = tune(make_recipe(search), sampler="random", output_dir=tmp_path / "runs", report=False)
    first, second = result.study.get_trials()
    assert first.params == {"train.optimizer.learning_rate": 0.01, "model.layers[1].units": 16,
                            "train.batch_size": 32}  # the tiny recipe's own values
    assert first.user_attrs.get("baseline") is True and "baseline" not in second.user_attrs
    assert second.params != first.params
    resumed = tune(make_recipe({**search, "trials": 3}), sampler="random", output_dir=tmp_path / "runs",
                   report=False)
    assert sum(bool(t.user_attrs.get("baseline")) for t in resumed.study.get_trials()) == 1  # queued once
