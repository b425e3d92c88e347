"""Named learning-rate schedules."""

from __future__ import annotations

import math

import pytest

from kerasforge.errors import RecipeError
from kerasforge.training.schedules import make_schedule


def test_constant_then_exponential_matches_the_classic_schedule():
    schedule = make_schedule("constant_then_exponential", {"start_epoch": 10, "rate": 0.1}, initial_lr=0.01)
    assert schedule(9, 0.01) == 0.01
    assert schedule(10, 0.01) == pytest.approx(0.01 * math.exp(-0.1))


def test_step_decay_and_cosine_use_the_initial_rate():
    step = make_schedule("step_decay", {"every": 2, "factor": 0.5}, initial_lr=0.1)
    assert [step(e, 999) for e in range(5)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    cosine = make_schedule("cosine", {"epochs": 10}, initial_lr=0.1)
    assert cosine(0, 0) == pytest.approx(0.1) and cosine(10, 0) == pytest.approx(0.0, abs=1e-12)
    assert cosine(5, 0) == pytest.approx(0.05)


def test_unknown_schedule_and_argument_are_explained():
    with pytest.raises(RecipeError, match="Did you mean 'cosine'"):
        make_schedule("cosin", {}, initial_lr=0.1)
    with pytest.raises(RecipeError, match="'every'") as info:
        make_schedule("step_decay", {"evry": 2}, initial_lr=0.1, where="train.callbacks[0].schedule")
    assert info.value.where == "train.callbacks[0].schedule.evry"


def test_linear_warmup_decay_is_a_triangle_sampled_at_each_epochs_middle():
    schedule = make_schedule("linear_warmup_decay", {"epochs": 10, "warmup_epochs": 2}, initial_lr=2.0)
    rates = [schedule(e, 999) for e in range(10)]
    assert rates == pytest.approx([0.5, 1.5, 1.875, 1.625, 1.375, 1.125, 0.875, 0.625, 0.375, 0.125])
    assert max(rates) < 2.0 and rates[-1] > 0  # never the peak itself, never a wasted epoch at 0
    floor = make_schedule("linear_warmup_decay", {"epochs": 4, "warmup_epochs": 0, "min_lr": 0.1}, initial_lr=1.0)
    assert [floor(e, 0) for e in range(4)] == pytest.approx([0.8875, 0.6625, 0.4375, 0.2125])
    assert floor(10, 0) == pytest.approx(0.1)  # past the end: the floor


def test_a_named_schedule_without_epochs_runs_over_the_runs_own_length(tmp_path):
    from kerasforge.recipe import load_recipe
    from kerasforge.training.callbacks import make_callbacks

    recipe = load_recipe("fashion_mnist_cnn", ["train.epochs=4"])  # its cosine schedule names no epochs
    (scheduler,) = [c for c in make_callbacks(recipe.train.callbacks, tmp_path, initial_lr=1.0,
                                              epochs=recipe.train.epochs) if hasattr(c, "schedule")]
    assert [round(scheduler.schedule(e, 0.0), 3) for e in range(4)] == [1.0, 0.854, 0.5, 0.146]
    explicit = make_schedule("cosine", {"epochs": 8}, initial_lr=1.0, epochs=4)  # a recipe's own epochs win
    assert round(explicit(4, 0.0), 3) == 0.5
