"""Recipes flattened to MLflow params."""

from __future__ import annotations

from kerasforge.tracking.params import MAX_KEY, MAX_VALUE, flatten_params


def test_nested_mappings_become_dotted_keys():
    flat = flatten_params({"train": {"optimizer": {"type": "adam", "learning_rate": 0.001}, "epochs": 3}})
    assert flat == {"train.optimizer.type": "adam", "train.optimizer.learning_rate": "0.001", "train.epochs": "3"}


def test_lists_of_mappings_are_indexed_and_plain_lists_are_json():
    flat = flatten_params({"model": {"layers": ["Flatten", {"type": "Dense", "units": 10}],
                                     "input_shape": [8, 8]}, "flag": True, "none": None})
    assert flat["model.layers.0"] == "Flatten"
    assert flat["model.layers.1.units"] == "10"
    assert flat["model.input_shape"] == "[8, 8]"
    assert flat["flag"] == "true" and flat["none"] == "null"


def test_values_and_keys_fit_mlflow_limits():
    flat = flatten_params({"x" * 400: "y" * 10_000, "bad[key]": 1})
    (long_key, long_value), (bad_key, _) = flat.items()
    assert len(long_key) == MAX_KEY and len(long_value) == MAX_VALUE and long_value.endswith("...")
    assert bad_key == "bad_key_"
