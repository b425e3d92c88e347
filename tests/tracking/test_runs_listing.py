"""``kforge runs``: the runs table, read from run folders (and the MLflow store when there is one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerasforge.cli import main
from kerasforge.tracking import list_runs, log_run


def make_run(root: Path, name: str, accuracy: float | None, loss: float, started: str, status="finished") -> Path:
    """A run folder as `kforge train` leaves it (only the files the table reads)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"name": name, "status": status, "started": started,
                                                 "epochs_done": 2}))
    (folder / "data.json").write_text(json.dumps({"dataset": "digits"}))
    metrics = {"test_loss": loss, "test_examples": 359}
    if accuracy is not None:
        metrics["test_accuracy"] = accuracy
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    make_run(root, "b-run", 0.91, 0.30, "2026-01-02T10:00:00")
    make_run(root, "a-run", 0.95, 0.20, "2026-01-01T10:00:00")
    make_run(root, "c-run", 0.80, 0.60, "2026-01-03T10:00:00")
    make_run(root, "d-failed", None, 9.0, "2026-01-04T10:00:00", status="failed")
    make_run(root / "tune" / "study", "t-trial000", 0.85, 0.4, "2026-01-05T10:00:00")
    return root


def names(output: str) -> list[str]:
    return [line.split()[0] for line in output.strip().splitlines()[1:]]


def test_runs_lists_newest_first_with_metrics(runs, capsys):
    assert main(["runs", "--output", str(runs)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["name", "status", "dataset", "epochs"] and "test_accuracy" in header and "path" in header
    assert names(out) == ["t-trial000", "d-failed", "c-run", "b-run", "a-run"]
    assert "mlflow" not in out  # no store, no id column
    assert "0.9500" in out and "failed" in out


def test_runs_sorts_by_a_metric_and_limits(runs, capsys):
    assert main(["runs", "--output", str(runs), "--sort", "test_accuracy"]) == 0
    assert names(capsys.readouterr().out) == ["a-run", "b-run", "t-trial000", "c-run", "d-failed"]
    assert main(["runs", "--output", str(runs), "--sort", "test_accuracy", "--asc", "--limit", "2"]) == 0
    assert names(capsys.readouterr().out) == ["c-run", "t-trial000"]
    assert main(["runs", "--output", str(runs), "--sort", "test_loss"]) == 0  # losses: smallest first
    assert names(capsys.readouterr().out)[:2] == ["a-run", "b-run"]


def test_unknown_sort_key_is_a_clear_error(runs, capsys):
    assert main(["runs", "--output", str(runs), "--sort", "test_acuracy"]) == 2
    err = capsys.readouterr().err
    assert "test_acuracy" in err and "Did you mean 'test_accuracy'" in err


def test_missing_runs_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["runs", "--output", str(tmp_path / "nope")]) == 2
    assert "kforge train" in capsys.readouterr().err


def test_a_logged_real_run_shows_its_mlflow_id(run_copy, capsys):
    run_id = log_run(run_copy)  # the default store beside the run: <runs>/mlflow.db
    assert main(["runs", "--output", str(run_copy.parent), "--sort", "test_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "mlflow run" in out.splitlines()[0]
    assert run_copy.name in out and run_id in out and "digits" in out


def test_mlflow_id_is_found_in_the_store_when_run_json_lacks_it(run_copy):
    run_id = log_run(run_copy)
    info = json.loads((run_copy / "run.json").read_text())
    del info["mlflow_run_id"]
    (run_copy / "run.json").write_text(json.dumps(info))
    [row] = list_runs(run_copy.parent)
    assert row.mlflow_run_id == run_id and row.epochs == 3 and row.status == "finished"
