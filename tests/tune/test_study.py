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
