"""Tuning from two "machines" on a real PostgreSQL study: one is killed mid-study, the other fails its
dead trials through Optuna's heartbeat, runs them again and ends the study with exactly its trial count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from postgres_helpers import SKIP_REASON, postgres_cluster, postgres_tools
from tune_helpers import make_recipe

TRIALS = 6
SEARCH = {"params": {"train.optimizer.learning_rate": {"log_uniform": [3e-3, 3e-2]},
                     "model.layers[1].units": {"choice": [8, 16, 32]}},
          "trials": TRIALS, "pruner": {"type": "median", "n_startup_trials": 2}}


def machine(tmp_path: Path, name: str, recipe: Path, url: str) -> subprocess.Popen:
    """`kforge tune --workers 2` as one machine would run it: its own output folder, the shared storage."""
    env = {**os.environ, "KFORGE_OFFLINE": "1", "KFORGE_NO_TRACK": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "KFORGE_TUNE_HEARTBEAT": "1"}  # a heartbeat a second: a dead trial is stale after 6 s
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "kerasforge.cli", "tune", str(recipe), "--sampler", "random",
                             "--workers", "2", "--storage", url, "--output", str(tmp_path / name), "--quiet"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
@pytest.mark.skipif(postgres_tools() is None, reason=SKIP_REASON)
def test_a_machine_killed_mid_study_has_its_trials_failed_and_run_again_by_the_other(tmp_path, recipe_file):
    import optuna
    from optuna.trial import TrialState

    recipe = recipe_file(make_recipe(SEARCH, train={"epochs": 4}))
    with postgres_cluster("studies") as pg:
        one = machine(tmp_path, "one", recipe, pg["url"])
        time.sleep(3)  # `one` creates the study; `two` joins it
        two = machine(tmp_path, "two", recipe, pg["url"])
        try:
            victims = None
            deadline = time.time() + 240
            while time.time() < deadline and victims is None and one.poll() is None:
                time.sleep(0.5)
                try:
                    study = optuna.load_study(study_name="tiny", storage=pg["url"])
                except Exception:
                    continue  # not created yet
                trials = study.get_trials(deepcopy=False)
                mine = [t.number for t in trials if t.state == TrialState.RUNNING
                        and t.user_attrs.get("kforge_worker", {}).get("pid") in _tree(one.pid)]
                if mine and any(t.state == TrialState.COMPLETE for t in trials):
                    victims = mine
            assert victims, "machine one finished before it could be killed: " + (tmp_path / "one.log").read_text()
            os.killpg(one.pid, signal.SIGKILL)  # the machine is gone: its command and its worker process
            one.wait(timeout=30)
            code = two.wait(timeout=600)  # 100 s on a quiet 2-core machine; room for a loaded one
        finally:
            for proc in (one, two):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
        log = (tmp_path / "two.log").read_text()
        assert code == 0, log[-3000:]
        study = optuna.load_study(study_name="tiny", storage=pg["url"])
        trials = study.get_trials()
    counted = [t for t in trials if not t.user_attrs.get("kforge_surplus")]
    finished = [t for t in counted if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == TRIALS, [(t.number, t.state.name) for t in trials]  # exactly the trial count
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    dead = {t.number: t for t in trials if t.number in victims}
    assert all(t.state == TrialState.FAIL for t in dead.values()), victims  # failed by the heartbeat
    retried = [t for t in finished if t.system_attrs.get("failed_trial") in dead]
    assert retried, "the dead machine's trials were not run again"
    for retry in retried:  # with the same parameters
        assert retry.params == dead[retry.system_attrs["failed_trial"]].params


def _tree(pid: int) -> set[int]:
    """``pid`` and its children (machine one's worker subprocess)."""
    found = {pid}
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return found | {int(c) for c in children}
