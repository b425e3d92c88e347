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


# ---- recipe files that are not readable YAML text ------------------------------------------------------
BODY = ("data: {dataset: digits, subset: 300}\n"
        "model: {layers: [Flatten, {type: Dense, units: 10, activation: softmax}]}\n")


def _bomb(levels: int = 9) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n" + BODY


@pytest.mark.parametrize("content, expected", [
    (BODY.replace("digits", "d\xefgits").encode("latin-1"), ["not UTF-8", "line 1"]),
    (b"\x00\x01\x02\xff binary", ["binary"]),
    (b"\xff\xfe" + "data: {}\n".encode("utf-16-le")[:5], ["utf-16"]),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", ["nests"]),
    ("".join(" " * i + f"k{i}:\n" for i in range(200)), ["nests more than"]),
    ("data: {dataset: digits}\ndata: {dataset: mnist}\nmodel: {layers: [Flatten]}\n", ["'data' appears twice", "line 1"]),
    ("train: {epochs: 1, epochs: 2}\n" + BODY, ["'epochs' appears twice"]),
    (_bomb(), ["alias bomb"]),
    ("- data\n- model\n", ["mapping of sections", "list"]),
    ("just words\n", ["mapping of sections"]),
    ("{[1, 2]: x}\n", ["key"]),
    ("extends: 5\n" + BODY, ["extends", "int"]),
    ("extends: [a, b]\n" + BODY, ["extends", "list"]),
    ("extends: {path: x}\n" + BODY, ["extends", "dict"]),
])
def test_recipe_files_that_are_not_yaml_text(capsys, tmp_path, content, expected):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert_clear_error(capsys, ["check", str(path)], *expected)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_recipe_files_with_a_byte_order_mark_are_read(capsys, tmp_path, encoding):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(BODY.encode(encoding))
    assert main(["check", str(path)]) == 0, capsys.readouterr().err


# ---- numbers that are not numbers ------------------------------------------------------------------------
@pytest.mark.parametrize("changes, expected", [
    ({"train.epochs": True}, ["train.epochs", "not true"]),
    ({"train.batch_size": False}, ["train.batch_size", "not false"]),
    ({"seed": True}, ["seed", "number"]),
    ({"data.subset": True}, ["data.subset"]),
    ({"train.validation_split": float("nan")}, ["train.validation_split", "finite"]),
    ({"train.optimizer": {"type": "adam", "learning_rate": float("inf")}}, ["learning_rate", "finite"]),
    ({"train.class_weight": {0: float("inf")}}, ["train.class_weight", "finite"]),
    ({"model.input_shape": [8, True, 1]}, ["model.input_shape", "number"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "units": "ten"}]}, ["model.layers[1].units", "the word 'ten'"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "units": True}]}, ["model.layers[1].units", "not true"]),
    ({"model.layers": ["Flatten", {"type": "Dropout", "rate": float("nan")}]}, ["model.layers[1].rate", "finite"]),
    ({"train.optimizer": {"type": "sgd", "momentum": "high"}}, ["train.optimizer.momentum", "word"]),
    ({"train.callbacks": [{"type": "EarlyStopping", "patience": True}]}, ["train.callbacks[0].patience"]),
])
def test_numbers_that_are_not_numbers(capsys, tmp_path, changes, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, changes))], *expected)


def test_numbers_in_scientific_notation_are_numbers(capsys, tmp_path):
    text = BODY.replace("units: 10", "units: 1e1") + "train: {optimizer: {type: adam, learning_rate: 1e-3}}\n"
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    path.write_text(BODY.replace("units: 10", "units: '1e1'") + "train: {optimizer: {type: adam, beta_1: '9e-1'}}\n")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    from kerasforge.recipe import load_recipe

    assert load_recipe(path).model.layers[1].kwargs["units"] == 10


# ---- module:name references that import but are the wrong kind of thing --------------------------------
@pytest.mark.parametrize("changes, expected", [
    ({"train.callbacks": ["collections:OrderedDict"]}, ["train.callbacks[0].type", "Callback"]),
    ({"train.callbacks": ["os.path:join"]}, ["train.callbacks[0].type", "Callback"]),
    ({"train.callbacks": [{"type": "LearningRateScheduler", "schedule": "math:pi"}]}, ["schedule", "float"]),
    ({"train.callbacks": [{"type": "LearningRateScheduler", "schedule": "collections:OrderedDict"}]}, ["schedule"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "math:pi"}]}, ["activation", "float"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "os.path:join"}]},
     ["model.layers[1].activation", "one tensor"]),
    ({"train.loss": "math:pi"}, ["train.loss", "loss(y_true, y_pred)"]),
    ({"train.loss": "collections:OrderedDict"}, ["train.loss"]),
    ({"train.metrics": ["math:pi"]}, ["train.metrics[0]", "metric"]),
    ({"model": "math:pi"}, ["model.ref", "float"]),
])
def test_references_of_the_wrong_kind(capsys, tmp_path, changes, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, changes))], *expected)


# ---- --set --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, expected", [
    ("train.epochs=[1,", ["--set train.epochs", "not valid YAML"]),
    ("train.epochs={a", ["--set train.epochs", "not valid YAML"]),
    ("model.layers[7].units=3", ["model.layers[7]", "out of range"]),
    ("model.layers[x].units=3", ["not a recipe path"]),
    ("train.epochs.x=3", ["train.epochs", "not a section"]),
    ("train.callbacks[0].patience=3", ["train.callbacks", "no list"]),
    ("train.epochs", ["path=value"]),
])
def test_set_values_and_paths_that_do_not_fit(capsys, tmp_path, override, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path)), "--set", override], *expected)


def test_set_reaches_into_lists(capsys, tmp_path):
    from kerasforge.recipe import load_recipe

    recipe = load_recipe(recipe_file(tmp_path), ["model.layers[1].units=12", "model.layers[0].name=flat",
                                                 "train.optimizer=adam", "train.optimizer.learning_rate=1e-3"])
    assert recipe.model.layers[1].kwargs["units"] == 12 and recipe.model.layers[0].kwargs["name"] == "flat"
    assert recipe.train.optimizer.learning_rate == pytest.approx(1e-3)


# ---- absurd sizes, paths that are not files or folders, output folders that cannot exist ----------------
@pytest.mark.parametrize("layers, expected", [
    (["Flatten", {"type": "Dense", "units": 10 ** 12}], ["model.layers[1]", "parameters", "Dense"]),
    ([{"type": "Conv2D", "filters": 10 ** 9, "kernel_size": 3}, "Flatten", {"type": "Dense", "units": 10}],
     ["model.layers[0]", "Conv2D"]),
    ([{"type": "Embedding", "input_dim": 10 ** 9, "output_dim": 10 ** 4}], ["model.layers[0]", "Embedding"]),
])
def test_absurd_layer_sizes_are_refused_before_building(capsys, tmp_path, train, layers, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, {"model.layers": layers}))], *expected)
    assert_clear_error(capsys, train({"model.layers": layers}), *expected)


@pytest.fixture
def fifo(tmp_path):
    import os

    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("dataset", ["csv", "image_folder", "text_folder", "mnist"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_data_paths_that_are_not_regular_files_or_folders(capsys, tmp_path, train, fifo, dataset, special):
    path = str(fifo) if special == "fifo" else special
    data = {"dataset": dataset, "path": path, **({"target": "y"} if dataset == "csv" else {})}
    kind = "named pipe" if special == "fifo" else "character device"
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, {"data": data}))], path, kind)
    assert_clear_error(capsys, train({"data": data}), path, kind)


def test_a_socket_as_data_path(capsys, tmp_path, train):
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert_clear_error(capsys, train({"data": {"dataset": "image_folder", "path": str(path)}}), "socket")


def test_output_folders_that_cannot_exist(capsys, tmp_path, train):
    (tmp_path / "a_file").write_text("x")
    under_a_file = recipe_file(tmp_path, {"output": {"dir": str(tmp_path / "a_file" / "runs")}})
    assert_clear_error(capsys, ["train", str(under_a_file), "-q"], "output.dir", "a_file", "is a file")
    assert_clear_error(capsys, ["check", str(under_a_file)], "output.dir", "a_file", "is a file")
    argv = train()
    argv[argv.index("--output") + 1] = str(tmp_path / ("n" * 300))
    assert_clear_error(capsys, argv, "--output", "300 bytes")
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, {"name": "r" * 300}))], "name", "too long")
    assert not list(tmp_path.glob("n*"))


# ---- data files that are not what they claim ---------------------------------------------------------------
def test_decompression_bomb_in_an_image_folder(capsys, train, tmp_path):
    folder = image_folder(tmp_path / "imgs")
    Image.new("L", (12000, 12000)).save(folder / "a" / "bomb.png", optimize=True)
    changes = {"data": {"dataset": "image_folder", "path": str(folder), "image_size": [8, 8]}}
    assert_clear_error(capsys, train(changes), "bomb.png", "decompression bomb")


@pytest.mark.parametrize("cell, expected", [
    ("inf", ["line 3", "'a'", "finite"]),
    ("-Infinity", ["line 3", "finite"]),
    ("x" * 200_000, ["line 3", "CSV"]),
    ("1\x002", ["binary"]),
])
def test_csv_cells_that_are_not_values(capsys, train, tmp_path, cell, expected):
    rows = ["a,b,y"] + [f"{i},{i % 3},{'p' if i % 2 else 'q'}" for i in range(20)]
    rows[2] = f"{cell},1,p"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    changes = {"data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "target": "y"},
               "model.layers": [{"type": "Dense", "units": 2, "activation": "softmax"}]}
    assert_clear_error(capsys, train(changes), "t.csv", *expected)


def test_csv_nan_cells_are_missing_values(capsys, train, tmp_path):
    rows = ["a,b,y"] + [f"{'NaN' if i == 3 else i},{i % 3},{'pqr'[i % 3]}" for i in range(30)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    changes = {"data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "target": "y"},
               "model.layers": [{"type": "Dense", "units": 3, "activation": "softmax"}]}
    assert main(train(changes)) == 0, capsys.readouterr().err
    data = next((tmp_path / "runs").glob("recipe-*/data.json")).read_text()
    assert "filled 1 missing values of 'a'" in data


def test_binary_file_in_a_text_folder(capsys, train, tmp_path):
    for name in ("pos", "neg"):
        (tmp_path / "texts" / name).mkdir(parents=True)
        for i in range(5):
            (tmp_path / "texts" / name / f"{i}.txt").write_text(f"a {name} review number {i}")
    (tmp_path / "texts" / "pos" / "blob.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50)
    changes = {"data": {"dataset": "text_folder", "path": str(tmp_path / "texts")},
               "model.layers": [{"type": "Dense", "units": 2, "activation": "softmax"}]}
    assert_clear_error(capsys, train(changes), "blob.txt", "binary")


@pytest.mark.parametrize("arrays, expected", [
    ({"x_train": np.array(["a", "b"]), "y_train": np.array([0, 1])}, ["x_train", "numeric"]),
    ({"x_train": np.zeros((4, 28, 28), dtype=object), "y_train": np.zeros(4)}, ["numeric", "object"]),
    ({"x_train": np.zeros((4, 28)), "y_train": np.zeros(4)}, ["(N, height, width"]),
    ({"x_train": np.zeros((4, 28, 28)), "y_train": np.zeros(3)}, ["one label per image"]),
    ({"x_train": np.zeros((4, 28, 28)), "y_train": np.array([0, 1, 2, 42])}, ["class ids 0 to 9"]),
    ({"x_train": np.full((4, 28, 28), np.nan), "y_train": np.zeros(4)}, ["NaN"]),
])
def test_malformed_arrays_in_a_dataset_file(capsys, train, tmp_path, arrays, expected):
    good = {"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.arange(4), "x_test": np.zeros((4, 28, 28),
            np.uint8), "y_test": np.arange(4)}
    np.savez(tmp_path / "mnist.npz", **{**good, **arrays})
    changes = {"data": {"dataset": "mnist", "path": str(tmp_path / "mnist.npz")}}
    assert_clear_error(capsys, train(changes), "mnist.npz", *expected)


# ---- kforge serve ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_port_out_of_range(capsys, tmp_path, port):
    assert_clear_error(capsys, ["serve", str(tmp_path), "--port", port], "--port", port, "65535")


@pytest.mark.parametrize("changes, expected", [
    ({"data.image_size": [100000, 100000]}, ["data.image_size", "8192"]),
    ({"data.maxlen": 10 ** 12}, ["data.maxlen"]),
    ({"data.num_words": 10 ** 12}, ["data.num_words"]),
])
def test_absurd_data_sizes(capsys, tmp_path, changes, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, changes))], *expected)


@pytest.mark.parametrize("top", ["0", "-3"])
def test_predict_top_must_be_positive(capsys, tmp_path, top):
    assert_clear_error(capsys, ["predict", str(tmp_path), "x.png", "--top", top], "--top")


@pytest.mark.parametrize("changes, expected", [
    ({"seed": -1}, ["seed"]),
    ({"seed": 10 ** 20}, ["seed"]),
    ({"train.loss": {"type": "sparse_categorical_crossentropy", "from_logits": "maybe"}},
     ["train.loss.from_logits", "true or false"]),
    ({"model.layers": ["Flatten", {"type": "Dense", "units": 10, "use_bias": "no way"}]},
     ["model.layers[1].use_bias", "true or false"]),
    ({"evaluate": {"split": "validation"}, "train.validation_split": 0}, ["evaluate.split", "validation"]),
])
def test_values_checked_before_training(capsys, tmp_path, train, changes, expected):
    assert_clear_error(capsys, ["check", str(recipe_file(tmp_path, changes))], *expected)
