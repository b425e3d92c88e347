"""Studies on a real SQLite storage: trials of dead workers, grid queues, refusing to mix searches."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from tune_helpers import make_recipe

from kerasforge.errors import KerasforgeError
from kerasforge.tune import load_search
from kerasforge.tune.study import (
    counts,
    default_storage,
    enqueue_grid,
    fail_orphaned_trials,
    make_storage,
    open_study,
)

GRID = {"params": {"train.batch_size": {"choice": [16, 32]}, "model.layers[1].units": {"choice": [8, 16, 32]}}}


def _study(tmp_path, search=GRID, sampler="grid"):
    space = load_search(make_recipe(search))
    url = default_storage(tmp_path, "s")
    return space, open_study(space, make_storage(url), "s", sampler, seed=1)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_trials_of_dead_workers_are_failed_and_live_ones_kept(tmp_path):
    from optuna.trial import TrialState

    _, study = _study(tmp_path, sampler="random")
    dead, alive, elsewhere = study.ask(), study.ask(), study.ask()
    dead.set_user_attr("kforge_worker", {"host": socket.gethostname(), "pid": _dead_pid()})
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive.set_user_attr("kforge_worker", {"host": socket.gethostname(), "pid": live.pid})
        elsewhere.set_user_attr("kforge_worker", {"host": "another-machine", "pid": 1})
        assert fail_orphaned_trials(study) == [dead.number]
    finally:
        live.kill()
        live.wait()
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {dead.number: TrialState.FAIL, alive.number: TrialState.RUNNING,
                      elsewhere.number: TrialState.RUNNING}


def test_grid_queue_holds_every_point_once_and_refills_only_missing_ones(tmp_path):
    from optuna.trial import TrialState

    space, study = _study(tmp_path)
    assert enqueue_grid(study, space) == 6
    assert enqueue_grid(study, space) == 0  # queued points are not queued twice
    first = study.ask()   # takes a queued point
    space.suggest(first)
    study.tell(first, 1.0)
    second = study.ask()
    space.suggest(second)
    study.tell(second, state=TrialState.FAIL)   # a failed point must be visited again
    assert enqueue_grid(study, space) == 1
    waiting = [t.system_attrs["fixed_params"] for t in study.get_trials(states=(TrialState.WAITING,))]
    assert second.params in waiting and first.params not in waiting
    assert counts(study) == {"COMPLETE": 1, "FAIL": 1, "WAITING": 5}


def test_a_study_is_not_mixed_with_another_sampler_or_search(tmp_path):
    space, _ = _study(tmp_path)
    url = default_storage(tmp_path, "s")
    with pytest.raises(KerasforgeError) as err:
        open_study(space, make_storage(url), "s", "tpe", seed=1)
    assert "different sampler" in err.value.message and err.value.where == "--study"
    other = load_search(make_recipe({"params": {"train.batch_size": {"choice": [8, 64]}}}))
    with pytest.raises(KerasforgeError):
        open_study(other, make_storage(url), "s", "grid", seed=1)
    open_study(space, make_storage(url), "s", "grid", seed=1)  # the same search continues


def test_bad_storage_url_is_a_clear_error():
    with pytest.raises(KerasforgeError) as err:
        make_storage("nosuchdb://x/y")
    assert err.value.where == "--storage"


def test_a_trial_whose_worker_died_after_its_run_finished_is_recorded_not_failed(tmp_path):
    """The worker died between saving the run and telling the study: the finished run folder counts."""
    import os
    import shutil
    import socket

    from optuna.trial import TrialState

    from kerasforge.tune import load_search, tune
    from kerasforge.tune.study import fail_orphaned_trials

    search = {"params": {"train.batch_size": {"choice": [32]}}, "trials": 1, "pruner": "none"}
    result = tune(make_recipe(search), sampler="random", output_dir=tmp_path / "runs", report=False)
    study, runs_dir = result.study, tmp_path / "runs" / "tune" / "tiny"
    done = study.trials[0]
    trial = study.ask()  # trial 1: "running" on this host in a process that is gone
    trial.set_user_attr("kforge_worker", {"host": socket.gethostname(), "pid": 2 ** 22 + os.getpid()})
    shutil.copytree(done.user_attrs["run_dir"], runs_dir / "tiny-trial001-20260101-000000")
    lost = study.ask()  # trial 2: the same, but its run never finished (no model.keras)
    lost.set_user_attr("kforge_worker", {"host": socket.gethostname(), "pid": 2 ** 22 + os.getpid()})

    failed = fail_orphaned_trials(study, load_search(make_recipe(search)), runs_dir)
    states = {t.number: t for t in study.get_trials()}
    assert failed == [2]
    assert states[1].state == TrialState.COMPLETE and states[1].value == pytest.approx(done.value)
    assert states[1].user_attrs["run_dir"].endswith("tiny-trial001-20260101-000000")
    assert states[2].state == TrialState.FAIL


def test_a_study_short_of_its_trial_count_is_an_error_unless_its_time_ran_out():
    from kerasforge.errors import KerasforgeError
    from kerasforge.tune.tuner import TuneResult, check_complete

    result = TuneResult(study_name="s", storage="sqlite://", study=None, best_trial=None, best_value=None,
                        counts={"COMPLETE": 6, "PRUNED": 4, "FAIL": 2})
    check_complete(result, 10, timed_out=False)  # 10 of 10: failed trials do not matter
    with pytest.raises(KerasforgeError, match=r"ended with 10 of its 12 trials finished \(6 complete, 2 fail, "
                                              r"4 pruned\).*Run the same command again"):
        check_complete(result, 12, timed_out=False)
    check_complete(result, 12, timed_out=True)  # a time budget that ran out is a note, not an error


def test_a_trial_killed_before_its_first_heartbeat_is_failed_after_the_grace_period(tmp_path, monkeypatch):
    """Optuna's stale check skips trials without a heartbeat: one whose machine died between creating it and
    its first beat stayed RUNNING for ever, and the study never reached its count."""
    import time

    from optuna.trial import TrialState

    from kerasforge.tune.study import recover_stale_trials

    monkeypatch.setenv("KFORGE_TUNE_HEARTBEAT", "1")  # grace period: 6 s
    space, study = _study(tmp_path, sampler="random")
    silent, beating = study.ask(), study.ask()
    study._storage.record_heartbeat(beating._trial_id)
    recover_stale_trials(study, space, tmp_path)
    assert {t.state for t in study.get_trials()} == {TrialState.RUNNING}  # too young to judge
    time.sleep(6.5)
    study._storage.record_heartbeat(beating._trial_id)  # still alive
    recover_stale_trials(study, space, tmp_path)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {silent.number: TrialState.FAIL, beating.number: TrialState.RUNNING}
    assert "heartbeat" in study.get_trials()[silent.number].user_attrs["kforge_error"]
