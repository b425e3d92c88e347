"""A run is finished only when model.keras comes back with the same predictions."""

from __future__ import annotations

import json

import pytest

import kerasforge
from kerasforge.errors import TrainError


def _recipe(extra_layer=None) -> dict:
    layers = ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"}]
    layers += [extra_layer] if extra_layer else []
    return {"name": "reload", "seed": 1, "data": {"dataset": "digits", "subset": 200},
            "model": {"layers": [*layers, {"type": "Dense", "units": 10, "activation": "softmax"}]},
            "train": {"epochs": 1, "rehearsal": False}}  # the check after training (the rehearsal stops these before)


def test_a_finished_run_records_its_reload_check(tmp_path):
    run = kerasforge.train(_recipe(), output_dir=tmp_path, show_summary=False, report=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["reload_check"]["passed"] and info["reload_check"]["examples"] == 8
    assert info["reload_check"]["max_abs_diff"] <= 1e-5


@pytest.mark.parametrize("layer, cause", [
    ({"type": "reload_models:ForgetfulScale", "factor": 3.0}, "predicts differently"),
    ({"type": "reload_models:Unrebuildable", "width": 4}, "width"),
])
def test_a_model_that_does_not_come_back_fails_the_run_and_keeps_the_weights(tmp_path, layer, cause):
    with pytest.raises(TrainError) as caught:
        kerasforge.train(_recipe(layer), output_dir=tmp_path, show_summary=False, report=False)
    assert "does not come back" in caught.value.what and cause in caught.value.what, caught.value.what
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "does not come back" in info["error"]
    assert (run_dir / "model.weights.h5").is_file() and (run_dir / "model.keras").is_file()
