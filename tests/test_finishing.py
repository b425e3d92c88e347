"""Report and tracking never lost (issue 15): `kforge train` returns once the model is saved and a
background process makes them; a process killed before they are made leaves `parts` pending in
run.json, and `kforge report` / `kforge track` — or the next `kforge train` — finish them."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from lifecycle_helpers import kill_when, run, start, words, write_recipe

from kerasforge.cli import main


def _parts(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text()).get("parts", {})


def _mlflow_run(run_dir: Path):
    from mlflow.tracking import MlflowClient

    info = json.loads((run_dir / "run.json").read_text())
    return MlflowClient(tracking_uri=info["tracking_uri"]).get_run(info["mlflow_run_id"])


def _killed_during_report(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A run SIGKILLed right after its model was saved, while `--wait` makes its report."""
    recipe = write_recipe(tmp_path, name, epochs=1, batch_size=64)
    out = tmp_path / "runs"
    proc = start(["train", str(recipe), "--output", str(out), "--wait"], tmp_path)
    run_dir = kill_when(proc, out, name, lambda d, info: (info.get("parts") or {}).get("model") == "done")
    parts = _parts(run_dir)
    assert parts["model"] == parts["metrics"] == "done"
    assert parts["report"] == "pending" and parts["tracking"] == "pending", parts
    assert (run_dir / "model.keras").is_file() and not (run_dir / "report.html").exists()
    return recipe, out, run_dir


@pytest.mark.slow
def test_a_run_killed_during_its_report_is_finished_by_kforge_report_and_track_or_by_rerunning_train(
        tmp_path: Path, capsys, monkeypatch):
    """One run killed during its report, copied: `kforge report` + `kforge track` finish one copy, and
    rerunning `kforge train` finishes the other instead of training again."""
    recipe, out, run_dir = _killed_during_report(tmp_path, "killed_report")
    rerun_out = tmp_path / "rerun" / "runs"
    shutil.copytree(out, rerun_out)  # the same killed run, for the second way of finishing it

    assert main(["runs", "--output", str(out)]) == 0
    assert "finished, report pending, tracking pending" in capsys.readouterr().out
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file() and _parts(run_dir)["report"] == "done"
    assert main(["track", str(run_dir)]) == 0
    assert _parts(run_dir)["tracking"] == "done"
    assert _mlflow_run(run_dir).data.params["train.epochs"] == "1"

    rerun_dir = rerun_out / run_dir.name
    assert _parts(rerun_dir)["report"] == "pending" and not (rerun_dir / "report.html").exists()
    history = (rerun_dir / "history.json").read_text()
    again = run(["train", str(recipe), "--output", str(rerun_out), "--wait"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "finishing its report and tracking instead of training again" in words(again.stderr)
    assert "Epoch 1/1" not in again.stdout + again.stderr
    assert [p.name for p in rerun_out.glob("killed_report-*")] == [rerun_dir.name]
    assert (rerun_dir / "history.json").read_text() == history
    assert _parts(rerun_dir) == {"model": "done", "metrics": "done", "report": "done", "tracking": "done"}
    assert (rerun_dir / "report.html").is_file()
    assert f"run: {rerun_dir}" in again.stdout and "test_accuracy" in again.stdout
    assert _mlflow_run(rerun_dir).data.params["train.epochs"] == "1"


@pytest.mark.slow
def test_kforge_train_returns_before_the_report_which_a_background_process_then_makes(tmp_path: Path):
    recipe = write_recipe(tmp_path, "background", epochs=1, batch_size=64)
    out = tmp_path / "runs"
    done = run(["train", str(recipe), "--output", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    (run_dir,) = list(out.glob("background-*"))
    assert "test_accuracy" in done.stdout and "being made in the background" in words(done.stderr)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and "pending" in _parts(run_dir).values():
        time.sleep(0.2)
    assert _parts(run_dir) == {"model": "done", "metrics": "done", "report": "done", "tracking": "done"}, \
        (run_dir / "finishing.log").read_text()[-3000:]
    assert (run_dir / "report.html").is_file()
    logged = _mlflow_run(run_dir).data.metrics["test_accuracy"]
    assert logged == pytest.approx(json.loads((run_dir / "metrics.json").read_text())["test_accuracy"])
