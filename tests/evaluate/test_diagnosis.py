"""Each diagnosis provoked on purpose by a real (tiny) training run, and a healthy run that triggers none."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasforge
from kerasforge.errors import DataError
from kerasforge.evaluate import SHAPE_MISMATCH_EXPLANATION, diagnose, explain_shape_error


def mlp(units: int = 64, **last) -> dict:
    return {"layers": ["Flatten", {"type": "Dense", "units": units, "activation": "relu"},
                       {"type": "Dense", "units": 10, "activation": "softmax", **last}]}


def train(tmp_path, name: str, data: dict, model: dict, **train_args):
    recipe = {"name": name, "data": data, "model": model, "train": {"verbose": 0, **train_args}}
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False)
    findings = json.loads((run.path / "diagnosis.json").read_text())["findings"]
    return run, {f["code"]: f for f in findings}


def problems(findings: dict) -> set[str]:
    return {code for code, f in findings.items() if f["severity"] == "problem"}


def test_healthy_digits_run_has_no_problem(tmp_path):
    run, found = train(tmp_path, "healthy", {"dataset": "digits"}, mlp(), epochs=8)
    assert run.metrics["test_accuracy"] > 0.85 and problems(found) == set()


def test_nan_loss_stops_cleanly_and_is_explained(tmp_path):
    run, found = train(tmp_path, "nan", {"dataset": "digits"}, mlp(), epochs=3,
                       optimizer={"type": "sgd", "learning_rate": 1e8})
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished" and info["stopped"]["reason"] == "non_finite_loss"
    assert info["stopped"]["epoch"] == 1 and info["stopped"]["batch"] >= 1
    assert (run.path / "model.keras").is_file() and (run.path / "report.html").is_file()
    assert set(found) == {"non_finite_loss"}  # the curves of a diverged run say nothing more
    assert f"batch {info['stopped']['batch']}" in found["non_finite_loss"]["evidence"]
    assert "learning rate" in found["non_finite_loss"]["fix"]


def test_chance_level_accuracy(tmp_path):
    _, found = train(tmp_path, "chance", {"dataset": "digits"}, mlp(kernel_initializer="zeros"), epochs=3,
                     optimizer={"type": "adam", "learning_rate": 1e-12})
    assert "chance_level" in found and "epoch 2 to 3" in found["chance_level"]["evidence"]
    assert "most common class" in found["chance_level"]["evidence"]


def test_underfitting_when_training_stops_too_soon(tmp_path):
    _, found = train(tmp_path, "underfit", {"dataset": "digits"}, mlp(8), epochs=2,
                     optimizer={"type": "sgd", "learning_rate": 0.003})
    assert "underfitting" in found and "Training accuracy is" in found["underfitting"]["evidence"]
    assert "overfitting" not in found


def test_overfitting_names_the_epoch(tmp_path):
    big = {"layers": ["Flatten", {"type": "Dense", "units": 512, "activation": "relu"},
                      {"type": "Dense", "units": 512, "activation": "relu"},
                      {"type": "Dense", "units": 10, "activation": "softmax"}]}
    run, found = train(tmp_path, "overfit", {"dataset": "digits", "subset": 100}, big, epochs=20, batch_size=16,
                       validation_split=0.3, optimizer={"type": "adam", "learning_rate": 0.003})
    val = run.history["val_loss"]
    best = int(np.argmin(val)) + 1
    assert found["overfitting"]["title"] == f"Overfitting from epoch {best + 1}"
    assert f"lowest at epoch {best}" in found["overfitting"]["evidence"]
    assert "EarlyStopping" in found["overfitting"]["fix"]


def test_oscillating_validation_accuracy(tmp_path):
    _, found = train(tmp_path, "oscillate", {"dataset": "digits"}, mlp(256), epochs=10, batch_size=8,
                     validation_split=0.05, optimizer={"type": "adam", "learning_rate": 0.03})
    assert "oscillating" in found and "val_accuracy changed direction" in found["oscillating"]["evidence"]
    assert "learning rate" in found["oscillating"]["fix"]


def test_class_imbalance_in_training_labels(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,kind"]
    for label, n, centre in (("common", 300, 0.0), ("middle", 100, 3.0), ("rare", 12, -3.0)):
        rows += [f"{a:.3f},{b:.3f},{label}" for a, b in rng.normal(centre, 1.0, size=(n, 2))]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    model = {"layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                        {"type": "Dense", "units": 3, "activation": "softmax"}]}
    _, found = train(tmp_path, "imbalance", {"dataset": "csv", "path": str(tmp_path / "table.csv"),
                                             "target": "kind"}, model, epochs=3)
    assert "class_imbalance" in found
    assert "'common'" in found["class_imbalance"]["evidence"] and "'rare'" in found["class_imbalance"]["evidence"]
    assert "class_weight: balanced" in found["class_imbalance"]["fix"]


def test_channel_mismatch_is_explained(tmp_path):
    model = {"input_shape": [8, 8, 3], "layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]}
    with pytest.raises(DataError) as caught:
        kerasforge.train({"name": "rgb", "data": {"dataset": "digits"}, "model": model},
                         output_dir=tmp_path, show_summary=False)
    found = explain_shape_error(caught.value)
    assert found["code"] == "input_shape_mismatch" and "color_mode" in found["fix"]
    assert "colour channel" in found["evidence"] and SHAPE_MISMATCH_EXPLANATION in found["evidence"]


def test_rules_on_written_histories():
    flat = {"epoch": [1, 2, 3, 4, 5, 6], "loss": [1.0, 0.8, 0.7, 0.6, 0.5, 0.45],
            "val_loss": [1.0, 0.85, 0.75, 0.7, 0.68, 0.67], "accuracy": [0.5, 0.7, 0.8, 0.85, 0.88, 0.9],
            "val_accuracy": [0.5, 0.68, 0.78, 0.8, 0.82, 0.83]}
    assert diagnose(flat, num_classes=10) == []
    oom = diagnose(flat, num_classes=10, run_info={"oom_retries": [
        {"batch_size": 256, "new_batch_size": 128, "error": "ResourceExhaustedError: OOM"}]})
    assert [f["code"] for f in oom] == ["out_of_memory"] and "256 -> 128" in oom[0]["evidence"]
