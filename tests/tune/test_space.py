"""The search is checked before any trial runs: clear errors naming search.params.<path>, nothing written."""

from __future__ import annotations

import pytest
from tune_helpers import make_recipe

from kerasforge.errors import KerasforgeError, RecipeError
from kerasforge.tune import load_search, tune

LR = {"train.optimizer.learning_rate": {"log_uniform": [1e-3, 1e-1]}}


@pytest.mark.parametrize(("params", "where", "words"), [
    ({"model.layers[7].units": {"choice": [8, 16]}}, "search.params.model.layers[7].units", "3 items"),
    ({"train.optimzer.learning_rate": {"log_uniform": [1e-4, 1e-2]}},
     "search.params.train.optimzer.learning_rate", "Did you mean 'optimizer'"),
    ({"train.bach_size": {"choice": [16, 32]}}, "search.params.train.bach_size", "Did you mean 'batch_size'"),
    ({"model.layers[1].unitz": {"choice": [8]}}, "search.params.model.layers[1].unitz", "Did you mean 'units'"),
    ({"model.layers[0].units": {"choice": [8]}}, "search.params.model.layers[0].units", "no 'units'"),
    ({"train.batch_size": {"int": [64, 16]}}, "search.params.train.batch_size", "low bound must be below"),
    ({"train.optimizer.learning_rate": {"log_uniform": [0, 0.1]}},
     "search.params.train.optimizer.learning_rate", "above 0"),
    ({"train.batch_size": {"choice": []}}, "search.params.train.batch_size", "at least one value"),
    ({"train.validation_split": {"uniform": [0.1, 1.5]}}, "search.params.train.validation_split",
     "less than 1"),
    ({"train.epochs": {"int": [0, 3]}}, "search.params.train.epochs", "greater than 0"),
])
def test_bad_paths_and_ranges_fail_before_any_trial(tmp_path, params, where, words):
    with pytest.raises(RecipeError) as err:
        tune(make_recipe({"params": params, "trials": 2}), output_dir=tmp_path / "runs")
    assert err.value.where == where, err.value.message
    assert words in err.value.message
    assert not (tmp_path / "runs").exists()  # no run folder, no study database


def test_test_metric_is_refused_as_objective_with_the_reason(tmp_path):
    with pytest.raises(RecipeError) as err:
        tune(make_recipe({"params": LR, "objective": {"metric": "test_accuracy"}}), output_dir=tmp_path / "r")
    assert err.value.where == "search.objective"
    assert "test set" in err.value.message and "val_accuracy" in err.value.message
    assert not (tmp_path / "r").exists()


def test_paths_written_outside_params_are_pointed_there():
    with pytest.raises(RecipeError) as err:
        load_search(make_recipe({"train.batch_size": {"choice": [16]}}))
    assert "under 'params'" in err.value.message


def test_grid_refuses_a_continuous_range_but_takes_steps(tmp_path):
    with pytest.raises(RecipeError) as err:
        tune(make_recipe({"params": LR}), sampler="grid", output_dir=tmp_path / "runs")
    assert err.value.where == "search.params.train.optimizer.learning_rate"
    assert "step" in err.value.fix
    assert not (tmp_path / "runs").exists()
    space = load_search(make_recipe({"params": {"train.validation_split": {"uniform": [0.1, 0.3], "step": 0.1},
                                                "model.layers[1].units": {"int": [8, 24], "step": 8}}}))
    grid = space.grid()
    assert len(grid) == 9
    assert sorted({p["train.validation_split"] for p in grid}) == [0.1, 0.2, 0.3]


def test_gp_without_torch_says_what_to_install(tmp_path):
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed: the gp sampler runs (see test_tuner)")
    with pytest.raises(KerasforgeError) as err:
        tune(make_recipe({"params": LR}), sampler="gp", output_dir=tmp_path / "runs")
    assert "torch" in err.value.message and "pip install torch" in err.value.message
    assert not (tmp_path / "runs").exists()


def test_trial_recipes_apply_values_and_drop_the_search():
    space = load_search(make_recipe({"params": {"model.layers[1].units": {"choice": [8, 32]},
                                                "train.callbacks": {"choice": [[], [{"type": "EarlyStopping"}]]}}}))
    data = space.trial_recipe({"model.layers[1].units": 32, "train.callbacks": [{"type": "EarlyStopping"}]},
                              name="tiny-trial001")
    assert "search" not in data and data["name"] == "tiny-trial001"
    assert data["model"]["layers"][1]["units"] == 32
    assert space.grid()[1]["train.callbacks"] == '[{"type": "EarlyStopping"}]'  # lists stored as JSON text


def test_yaml_numbers_without_a_dot_are_numbers():
    space = load_search(make_recipe({"params": {"train.optimizer.learning_rate": {"choice": ["1e-3", "1e-2"]}}}))
    assert space.search.params["train.optimizer.learning_rate"].choice == [0.001, 0.01]


def test_baseline_outside_the_searched_range_fails_before_any_trial(tmp_path):
    search = {"params": {"model.layers[1].units": {"choice": [32, 64]}}, "trials": 2, "baseline": True}
    with pytest.raises(RecipeError) as err:  # the tiny recipe has 16 units
        tune(make_recipe(search), output_dir=tmp_path / "runs")
    assert err.value.where == "search.params.model.layers[1].units"
    assert "(16)" in err.value.message and "search.baseline: false" in err.value.message
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("optimizer", ["adam", {"type": "adam"}, "sgd", "RMSprop"])
def test_baseline_of_a_bare_optimizer_uses_its_keras_default(optimizer):
    """`optimizer: adam` leaves learning_rate to Keras: the baseline trial uses Keras' own default."""
    import keras

    search = {"params": {"train.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]}}, "baseline": True}
    space = load_search(make_recipe(search, train={"optimizer": optimizer}))
    name = optimizer if isinstance(optimizer, str) else optimizer["type"]
    expected = keras.optimizers.get(name).get_config()["learning_rate"]
    assert space.baseline() == {"train.optimizer.learning_rate": pytest.approx(expected)}
