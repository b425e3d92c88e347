from __future__ import annotations

import pytest

from kerasforge.errors import RecipeError
from kerasforge.tune.paths import format_path, get_path, parse_path, set_path


def test_parse_and_format_round_trip():
    steps = parse_path("model.layers[0].units")
    assert steps == ["model", "layers", 0, "units"]
    assert format_path(steps) == "model.layers[0].units"
    assert parse_path("train.callbacks[-1].patience") == ["train", "callbacks", -1, "patience"]


def test_set_path_reaches_into_lists():
    data = {"model": {"layers": ["Flatten", {"type": "Dense", "units": 10}]}}
    set_path(data, "model.layers[1].units", 64)
    assert get_path(data, "model.layers[1].units") == 64
    assert data["model"]["layers"][0] == "Flatten"


def test_set_path_fills_in_defaults_from_the_resolved_recipe():
    data = {"train": {"optimizer": "adam"}}
    resolved = {"train": {"optimizer": {"type": "adam"}, "batch_size": 32}}
    set_path(data, "train.optimizer.learning_rate", 0.01, resolved)
    assert data["train"]["optimizer"] == {"type": "adam", "learning_rate": 0.01}
    set_path(data, "train.batch_size", 64, resolved)
    assert data["train"]["batch_size"] == 64


def test_index_out_of_range_names_the_path_and_the_size():
    data = {"model": {"layers": ["Flatten", "Flatten", "Flatten"]}}
    with pytest.raises(RecipeError) as err:
        set_path(data, "model.layers[7].units", 1)
    assert err.value.where == "search.params.model.layers[7].units"
    assert "3 items" in err.value.what


def test_misspelt_key_gets_a_did_you_mean():
    with pytest.raises(RecipeError) as err:
        set_path({"train": {"optimizer": {"type": "adam"}}}, "train.optimzer.learning_rate", 0.1)
    assert "Did you mean 'optimizer'" in err.value.what


@pytest.mark.parametrize("bad", ["model..layers", "model.layers[x]", ".train", "train.", "9train"])
def test_bad_syntax(bad):
    with pytest.raises(RecipeError):
        parse_path(bad)
