"""Malformed recipes and inputs: each ends with exit code 2 and one paragraph naming the field or
file and a fix, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from kerasforge.cli import main

GOOD = {
    "data": {"dataset": "digits", "subset": 300},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 1, "batch_size": 32},
}


def recipe_file(tmp_path: Path, changes: dict | None = None, text: str | None = None) -> Path:
    path = tmp_path / "recipe.yaml"
    if text is None:
        data = yaml.safe_load(yaml.safe_dump(GOOD))
        for dotted, value in (changes or {}).items():
            node = data
            *parents, last = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            if value is _DELETE:
                node.pop(last, None)
            else:
                node[last] = value
        text = yaml.safe_dump(data)
    path.write_text(text)
    return path


_DELETE = object()


def image_folder(root: Path, classes=("a", "b"), per_class: int = 6, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            channels = {"RGB": 3, "L": 1}[mode]
            pixels = rng.integers(0, 255, (8, 8, channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze() if channels == 1 else pixels, mode).save(root / name / f"{i}.png")
    return root


def assert_clear_error(capsys, argv: list[str], *expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    message = err.splitlines()[-1]
    assert len(err.splitlines()) == 1, f"not one paragraph: {err}"
    assert message.startswith("kforge: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


@pytest.fixture
def train(tmp_path: Path):
    def run(changes: dict | None = None, text: str | None = None) -> list[str]:
        return ["train", str(recipe_file(tmp_path, changes, text)), "--quiet", "--output", str(tmp_path / "runs")]
    return run


@pytest.fixture
def offline_nowhere(tmp_path: Path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    for var in ("KFORGE_DATA_DIR", "KFORGE_SYSTEM_DATASETS", "KERAS_HOME"):
        monkeypatch.setenv(var, str(empty))
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("KFORGE_OFFLINE", "1")


# ---- the recipe itself --------------------------------------------------------------------------
@pytest.mark.parametrize("changes, expected", [
    ({"train.epoch": 3}, ["train.epoch", "epochs"]),
    ({"train.epochs": "ten"}, ["train.epochs", "whole number"]),
    ({"train.epochs": -2}, ["train.epochs"]),
    ({"train.batch_size": 0}, ["train.batch_size"]),
    ({"data.dataset": "fashion-mnist"}, ["data.dataset", "fashion_mnist"]),
    ({"model": _DELETE}, ["model", "missing"]),
    ({"train.optimizer": "adma"}, ["train.optimizer.type", "Adam"]),
    ({"train.loss": "sparse_categorical_crossentropi"}, ["train.loss", "sparse_categorical_crossentropy"]),
    ({"train.metrics": ["acuracy"]}, ["train.metrics[0]"]),
    ({"train.callbacks": [{"type": "EarlyStopping", "patiense": 3}]}, ["train.callbacks[0].patiense", "patience"]),
    ({"train.callbacks": [{"type": "ModelCheckpoint", "filepath": "best.h5"}]}, ["train.callbacks[0].filepath"]),
    ({"train.callbacks": [{"type": "LearningRateScheduler", "schedule": "cosin"}]}, ["schedule", "cosine"]),
    ({"model.layers": ["Flatten", {"type": "Dens", "units": 10}]}, ["model.layers[1]", "Dense"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "unitz": 10}]}, ["model.layers[1]", "units"]),
    ({"model": "no_such_module_here:Model"}, ["no_such_module_here"]),
])
def test_recipe_mistakes(capsys, train, changes, expected):
    assert_clear_error(capsys, train(changes), *expected)


def test_invalid_yaml(capsys, train):
    assert_clear_error(capsys, train(text="data:\n  dataset: digits\n model: [\n"), "line")


def test_missing_recipe_file(capsys, tmp_path):
    assert_clear_error(capsys, ["train", str(tmp_path / "nope.yaml")], "nope.yaml", "built-in")


def test_check_reports_without_training(capsys, tmp_path):
    path = recipe_file(tmp_path, {"model.layers": ["Flatten", {"type": "Dense", "units": 10, "activaton": "relu"}]})
    assert_clear_error(capsys, ["check", str(path)], "model.layers[1]", "activation")
    good = recipe_file(tmp_path)
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out.startswith("ok:")


# ---- data and model that do not fit ----------------------------------------------------------------
def test_missing_dataset_lists_places_searched(capsys, train, offline_nowhere):
    assert_clear_error(capsys, train({"data.dataset": "fashion_mnist"}), "KFORGE_DATA_DIR")


def test_wrong_input_shape(capsys, train):
    assert_clear_error(capsys, train({"model.input_shape": [10]}), "model.input_shape", "[8, 8, 1]")


def test_rgb_images_into_a_one_channel_model(capsys, train, tmp_path):
    folder = image_folder(tmp_path / "imgs")
    changes = {"data": {"dataset": "image_folder", "path": str(folder), "image_size": [8, 8]},
               "model.input_shape": [8, 8, 1],
               "model.layers": ["Flatten", {"type": "Dense", "units": 2, "activation": "softmax"}]}
    assert_clear_error(capsys, train(changes), "color_mode", "grayscale")


def test_labels_that_do_not_fit_the_loss(capsys, train):
    changes = {"data.labels": "one_hot", "train.loss": "sparse_categorical_crossentropy"}
    assert_clear_error(capsys, train(changes), "data.labels", "sparse")


def test_output_layer_that_does_not_fit_the_classes(capsys, train):
    layers = ["Flatten", {"type": "Dense", "units": 5, "activation": "softmax"}]
    assert_clear_error(capsys, train({"model.layers": layers}), "10 classes")


def test_empty_image_folder(capsys, train, tmp_path):
    (tmp_path / "empty_imgs").mkdir()
    changes = {"data": {"dataset": "image_folder", "path": str(tmp_path / "empty_imgs")}}
    assert_clear_error(capsys, train(changes), "empty_imgs")


def test_unreadable_image(capsys, train, tmp_path):
    folder = image_folder(tmp_path / "imgs")
    (folder / "a" / "broken.png").write_bytes(b"this is not a png")
    changes = {"data": {"dataset": "image_folder", "path": str(folder), "image_size": [8, 8]}}
    assert_clear_error(capsys, train(changes), "broken.png")


def test_csv_without_the_target_column(capsys, train, tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,4,y\n" * 10)
    changes = {"data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "target": "lable"}}
    assert_clear_error(capsys, train(changes), "t.csv", "label")


def test_missing_csv_file(capsys, train, tmp_path):
    changes = {"data": {"dataset": "csv", "path": str(tmp_path / "nothere.csv"), "target": "y"}}
    assert_clear_error(capsys, train(changes), "nothere.csv")


def test_class_weight_for_unknown_class(capsys, train):
    assert_clear_error(capsys, train({"train.class_weight": {42: 2.0}}), "class_weight")


# ---- prediction inputs ------------------------------------------------------------------------------
def test_predict_with_no_run(capsys, tmp_path):
    assert_clear_error(capsys, ["predict", str(tmp_path), str(tmp_path / "x.png")], str(tmp_path))


def test_real_console_script_exit_code(tmp_path):
    path = recipe_file(tmp_path, {"train.epoch": 3})
    kforge = Path(sys.executable).with_name("kforge")
    done = subprocess.run([str(kforge), "check", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "train.epoch" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
