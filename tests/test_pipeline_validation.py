"""Training with ``data.validation``: a separate folder (in memory and streamed), the test split, Python data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import kerasforge
from kerasforge.cli import main
from kerasforge.errors import DataError


def image_folder(root, classes=("red", "blue"), per_class=6, size=(12, 12), mode="RGB"):
    """Class sub-folders of small flat-coloured PNGs (learnable by colour)."""
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, colours[name]).convert(mode).save(root / name / f"{i}.png")
    return root

TINY_CNN = {"layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3, "activation": "relu"},
                       "GlobalAveragePooling2D", {"type": "Dense", "units": 1, "activation": "sigmoid"}]}


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_folder_with_a_separate_validation_folder(tmp_path, monkeypatch, stream):
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    train = image_folder(tmp_path / "train", per_class=8)
    val = image_folder(tmp_path / "held out", per_class=3, size=(20, 16), mode="L")
    recipe = {"name": "colours", "data": {"dataset": "image_folder", "path": str(train), "image_size": [8, 8],
                                          "validation": str(val), "stream": stream},
              "model": TINY_CNN,
              "train": {"epochs": 1, "batch_size": 4, "validation_split": 0.25,
                        "callbacks": [{"type": "ReduceLROnPlateau", "monitor": "val_loss", "patience": 1}]},
              "evaluate": {"split": "validation"}}
    run = kerasforge.train(recipe, output_dir=tmp_path / "runs", show_summary=False, report=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["validation"] == {"source": str(val), "examples": 6}
    assert info["data_path"]["stream"] is stream
    assert "val_loss" in run.history and "validation_loss" in run.metrics
    data = json.loads((run.path / "data.json").read_text())
    assert data["sizes"]["validation"] == 6 and data["sizes"]["train"] + data["sizes"]["test"] == 16
    assert any("validation_split (0.25) is not used" in n for n in data["notes"])


def test_the_test_split_as_validation_with_early_stopping(tmp_path):
    recipe = {"name": "digits_val_test", "data": {"dataset": "digits", "subset": 200, "validation": "test"},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"epochs": 3, "batch_size": 32,
                        "callbacks": [{"type": "EarlyStopping", "monitor": "val_loss", "patience": 1,
                                       "restore_best_weights": True}]}}
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, report=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["validation"]["source"] == "test" and "no longer an independent estimate" in info["validation"]["note"]
    assert info["validation"]["examples"] == run.data_info["sizes"]["test"]
    assert len(run.history["val_loss"]) >= 1
    # the validation metrics of the last epoch are the test metrics of the same weights (no restore happened
    # when the last epoch was the best): both come from the test examples
    assert json.loads((run.path / "data.json").read_text())["validation"]["source"] == "test"


def test_python_data_with_the_test_split_as_validation_and_two_validation_sets_refused(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    recipe = {"name": "py", "data": {"dataset": "python", "validation": "test"},
              "model": {"layers": [{"type": "Dense", "units": 1, "activation": "sigmoid"}]},
              "train": {"epochs": 1, "batch_size": 16}}
    run = kerasforge.train(recipe, data=(x, y), output_dir=tmp_path, show_summary=False, report=False)
    assert run.data_info["sizes"]["validation"] == run.data_info["sizes"]["test"] == 16
    with pytest.raises(DataError, match="two validation sets"):
        kerasforge.train(recipe, data={"train": (x[:60], y[:60]), "validation": (x[60:], y[60:])},
                         output_dir=tmp_path, show_summary=False, report=False)


def test_the_cli_gives_exit_code_2_and_one_paragraph(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {dataset: digits, subset: 50, validation: no/such/folder}\n"
                      "model: {layers: [{type: Dense, units: 10, activation: softmax}]}\n")
    assert main(["check", str(recipe)]) == 2
    assert main(["train", str(recipe), "--output", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "data.validation (no/such/folder): does not exist" in err and "Traceback" not in err
    tune = tmp_path / "t.yaml"
    tune.write_text("data: {dataset: digits, validation: test}\n"
                    "model: {layers: [{type: Dense, units: 10, activation: softmax}]}\n"
                    "search: {params: {train.batch_size: {choice: [16, 32]}}, trials: 2}\n")
    assert main(["tune", str(tune), "--output", str(tmp_path / "runs")]) == 2
    assert "optimistic, tuned number" in capsys.readouterr().err
