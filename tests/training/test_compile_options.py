"""Keras schedule objects as learning_rate, and train.run_eagerly."""

from __future__ import annotations

import pytest

from kerasforge.checks import check_recipe
from kerasforge.errors import KerasforgeError

DIGITS = {
    "data": {"dataset": "digits", "subset": 200},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 2, "batch_size": 32},
}


def _train(recipe: dict, tmp_path):
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, track=False)


def test_exponential_decay_as_learning_rate_trains_and_decays(tmp_path):
    schedule = {"type": "ExponentialDecay", "initial_learning_rate": 0.01, "decay_steps": 2, "decay_rate": 0.5}
    run = _train({**DIGITS, "train": {**DIGITS["train"], "optimizer": {"type": "adam", "learning_rate": schedule}}},
                 tmp_path)
    import keras

    assert isinstance(run.model.optimizer._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    lrs = run.history["learning_rate"]
    assert lrs[-1] < lrs[0] < 0.01


@pytest.mark.parametrize("schedule", [
    {"type": "CosineDecay", "initial_learning_rate": 0.01, "decay_steps": 100},
    {"type": "PiecewiseConstantDecay", "boundaries": [10, 20], "values": [0.1, 0.01, 0.001]},
])
def test_other_schedules_pass_check(schedule):
    check_recipe({**DIGITS, "train": {"optimizer": {"type": "sgd", "learning_rate": schedule}}})


@pytest.mark.parametrize("schedule, expected", [
    ({"type": "ExponentialDecai", "initial_learning_rate": 0.01}, "ExponentialDecay"),
    ({"type": "CosineDecay", "initial_learning_rate": 0.01, "decay_stepz": 100}, "decay_stepz"),
    ({"type": "CosineDecay", "initial_learning_rate": float("nan"), "decay_steps": 100}, "finite"),
])
def test_schedule_mistakes_are_clear(schedule, expected):
    with pytest.raises(KerasforgeError, match=expected):
        check_recipe({**DIGITS, "train": {"optimizer": {"type": "adam", "learning_rate": schedule}}})


def test_run_eagerly(tmp_path):
    run = _train({**DIGITS, "train": {**DIGITS["train"], "epochs": 1, "run_eagerly": True}}, tmp_path)
    assert run.model.run_eagerly is True
    assert "run_eagerly" in str(run.info["fast_path"])  # the fast path (compiled multi-step calls) is off
