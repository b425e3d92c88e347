"""The recipe schema: defaults, extends, overrides, and error messages that name the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerasforge.errors import RecipeError
from kerasforge.recipe import Recipe, builtin_recipe_names, deep_merge, load_recipe

BASE = {"data": {"dataset": "digits"}, "model": {"layers": ["Flatten", {"type": "Dense", "units": 10}]}}


def with_(**sections) -> dict:
    recipe = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


def error_of(data: dict) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(data)
    message = info.value.message
    assert "\n" not in message
    return message


def test_defaults_follow_keras_names():
    recipe = load_recipe(BASE)
    assert recipe.train.optimizer.type == "adam"
    assert recipe.train.epochs == 10 and recipe.train.batch_size == 32
    assert recipe.train.validation_split == pytest.approx(0.1)
    assert recipe.model.kind == "sequential"
    assert [layer.type for layer in recipe.model.layers] == ["Flatten", "Dense"]
    assert recipe.model.layers[1].kwargs == {"units": 10}


def test_model_kind_is_inferred():
    functional = load_recipe(with_(model={"inputs": {"a": [4]}, "layers": [{"type": "Dense", "units": 2}]}))
    python = load_recipe({**BASE, "model": "user_models:build_mlp"})
    assert functional.model.kind == "functional"
    assert functional.model.inputs["a"].shape == [4]
    assert python.model.kind == "python" and python.model.ref == "user_models:build_mlp"


def test_unknown_key_gets_did_you_mean_and_path():
    message = error_of(with_(train={"epoch": 3}))
    assert message.startswith("train.epoch:")
    assert "Did you mean 'epochs'?" in message


def test_nested_callback_error_names_list_index():
    message = error_of(with_(train={"callbacks": ["TerminateOnNaN", {"type": "EarlyStopping", "patience": -1}]}))
    assert message.startswith("train.callbacks[1].patience:")


def test_unknown_callback_is_suggested():
    message = error_of(with_(train={"callbacks": [{"type": "EarlyStoping"}]}))
    assert "train.callbacks[0].type" in message and "EarlyStopping" in message


@pytest.mark.parametrize("bad, path", [
    ({"train": {"epochs": -3}}, "train.epochs"),
    ({"train": {"epochs": "ten"}}, "train.epochs"),
    ({"train": {"validation_split": 1.5}}, "train.validation_split"),
    ({"train": {"optimizer": {"type": "adam", "learning_rate": 0}}}, "train.optimizer.learning_rate"),
    ({"train": {"class_weight": "balance"}}, "train.class_weight"),
    ({"data": {"dataset": "digitz"}}, "data.dataset"),
    ({"data": {"dataset": "csv", "path": "x.csv"}}, "data"),
    ({"data": {"dataset": "image_folder"}}, "data"),
    ({"data": {"dataset": "digits", "subset": 0}}, "data.subset"),
    ({"model": {"layers": []}}, "model.layers"),
    ({"model": {"layers": [{"units": 3}]}}, "model.layers[0]"),
    ({"model": "not a reference"}, "model.ref"),
    ({"seed": "abc"}, "seed"),
])
def test_invalid_values_name_their_path(bad, path):
    message = error_of(with_(**bad))
    assert message.startswith(path + ":"), message


def test_missing_section_is_reported():
    message = error_of({"data": {"dataset": "digits"}})
    assert message.startswith("model:") and "missing" in message


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path):
    (tmp_path / "base.yaml").write_text(
        "data: {dataset: digits}\nmodel: {layers: [Flatten, {type: Dense, units: 10}]}\n"
        "train: {epochs: 5, batch_size: 16, metrics: [accuracy, AUC]}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain: {epochs: 2, metrics: [accuracy]}\n")
    recipe = load_recipe(tmp_path / "child.yaml")
    assert recipe.name == "child"
    assert recipe.train.epochs == 2 and recipe.train.batch_size == 16
    assert [m.type for m in recipe.train.metrics] == ["accuracy"]


def test_extends_a_builtin_recipe(tmp_path: Path):
    (tmp_path / "quick.yaml").write_text("extends: fashion_mnist_cnn\ntrain: {epochs: 1}\n")
    recipe = load_recipe(tmp_path / "quick.yaml")
    assert recipe.data.dataset == "fashion_mnist" and recipe.train.epochs == 1


def test_extends_cycle_is_an_error(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RecipeError, match="circle"):
        load_recipe(tmp_path / "a.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("data:\n  dataset: digits\n model: [\n")
    with pytest.raises(RecipeError, match="line"):
        load_recipe(tmp_path / "bad.yaml")


def test_overrides_apply_before_validation():
    recipe = load_recipe(BASE, ["train.epochs=3", "data.subset=100", "train.optimizer.type=sgd"])
    assert recipe.train.epochs == 3 and recipe.data.subset == 100 and recipe.train.optimizer.type == "sgd"
    with pytest.raises(RecipeError, match="path=value"):
        load_recipe(BASE, ["train.epochs"])


def test_recipe_round_trips_through_yaml(tmp_path: Path):
    recipe = load_recipe(with_(train={"callbacks": [{"type": "ReduceLROnPlateau", "factor": 0.5}]}))
    (tmp_path / "r.yaml").write_text(recipe.to_yaml())
    again = load_recipe(tmp_path / "r.yaml")
    assert again.to_dict() == {**recipe.to_dict(), "name": again.name}


def test_builtin_recipes_are_valid():
    names = builtin_recipe_names()
    assert "fashion_mnist_cnn" in names
    for name in names:
        assert isinstance(load_recipe(name), Recipe)


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1}}
    merged = deep_merge(base, {"a": {"c": 2}})
    assert merged == {"a": {"b": 1, "c": 2}} and base == {"a": {"b": 1}}


def test_scale_is_a_number_for_rescaling_and_true_or_false_for_batch_normalization():
    layers = [{"type": "Rescaling", "scale": 1.0e-3}, {"type": "Rescaling", "scale": "1e38"},
              {"type": "BatchNormalization", "scale": False}, "Flatten", {"type": "Dense", "units": 10}]
    recipe = load_recipe(with_(model={"layers": layers}))
    assert [layer.kwargs.get("scale") for layer in recipe.model.layers[:3]] == [1.0e-3, 1.0e38, False]
    message = error_of(with_(model={"layers": [{"type": "BatchNormalization", "scale": "yes please"}, "Flatten",
                                               {"type": "Dense", "units": 10}]}))
    assert "model.layers[0].scale" in message and "true or false" in message
