"""``kforge tune`` as a user runs it: several worker processes on one SQLite study, and a killed search
continued by running the same command again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from tune_helpers import kforge, load_study, make_recipe

SEARCH = {"params": {"train.optimizer.learning_rate": {"log_uniform": [3e-3, 3e-2]},
                     "model.layers[1].units": {"choice": [8, 16, 32]}}, "pruner": "none"}


@pytest.mark.slow
def test_two_workers_share_one_study_in_any_storage_without_losing_or_duplicating_trials(tmp_path, recipe_file):
    """Two worker processes on one study: every trial counted once, both worked, one run folder per trial.

    The study is stored outside the output folder, which used to crash (the output's tune/ folder was only
    made for the default SQLite file, which test_a_killed_search_continues_where_it_stopped uses), and the
    trials of a dense model run on the backend `kforge train` picks, JAX (they ran on TensorFlow before)."""
    (tmp_path / "db").mkdir()
    recipe = recipe_file(make_recipe(SEARCH))
    env_backend = os.environ.pop("KERAS_BACKEND", None)
    try:
        done = kforge("tune", str(recipe), "--sampler", "random", "--trials", "4", "--workers", "2",
                      "--storage", f"sqlite:///{tmp_path / 'db' / 'study.db'}", "--output", "out", "--quiet",
                      cwd=tmp_path)
    finally:
        if env_backend is not None:
            os.environ["KERAS_BACKEND"] = env_backend
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "best recipe:" in done.stdout
    study = load_study(tmp_path / "db" / "study.db", "tiny")
    counted = [t for t in study.get_trials() if not t.user_attrs.get("kforge_surplus")]
    assert [t.state.name for t in counted] == ["COMPLETE"] * 4
    assert len({t.number for t in counted}) == 4
    assert len({t.user_attrs["kforge_worker"]["pid"] for t in counted}) == 2  # both processes worked
    folders = list((tmp_path / "out" / "tune" / "tiny").iterdir())  # one run folder per trial, no more
    assert sorted(Path(t.user_attrs["run_dir"]).name for t in counted) == sorted(f.name for f in folders)
    for folder in folders:
        assert json.loads((folder / "run.json").read_text())["status"] == "finished"
    assert {json.loads((f / "env.json").read_text())["backend"] for f in folders} == {"jax"}  # dense: JAX


@pytest.mark.slow
def test_a_killed_search_continues_where_it_stopped(tmp_path, recipe_file):
    from optuna.trial import TrialState

    grid = {"params": {"model.layers[1].units": {"choice": [8, 16, 32]}}, "pruner": "none"}
    recipe = recipe_file(make_recipe(grid, train={"epochs": 3}))
    command = ("tune", str(recipe), "--sampler", "grid", "--output", "out")
    db = tmp_path / "out" / "tune" / "tiny.db"
    proc = kforge(*command, cwd=tmp_path, popen=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:  # wait for a finished trial and a running one
            states = _states(db)  # read-only: the search itself may be creating the tables
            if "COMPLETE" in states and "RUNNING" in states:
                break
            time.sleep(0.3)
        assert proc.poll() is None, "the search ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = {t.number: (t.params, t.value) for t in load_study(db, "tiny").get_trials()
              if t.state == TrialState.COMPLETE}
    assert before

    again = kforge(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "left running by a stopped process" in again.stderr
    trials = load_study(db, "tiny").get_trials()
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert {t.number: (t.params, t.value) for t in finished if t.number in before} == before  # kept
    assert sorted(t.params["model.layers[1].units"] for t in finished) == [8, 16, 32]  # the grid, once each
    assert any(t.state == TrialState.FAIL for t in trials)  # the interrupted trial
    assert not any(t.state == TrialState.RUNNING for t in trials)


def _states(db: Path) -> list[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return [row[0] for row in connection.execute("SELECT state FROM trials")]
    except sqlite3.Error:
        return []
