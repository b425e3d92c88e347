"""The main job end to end on real data: each model-building style trains from a recipe, the run
folder holds what it should, and saved models load back to identical predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasforge
from kerasforge.recipe import load_recipe
from kerasforge.saving import load_model_file, save_model

DIGITS_MLP = {
    "name": "digits_mlp",
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 64, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 12, "batch_size": 32, "callbacks": ["TerminateOnNaN", "CSVLogger"]},
}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return kerasforge.train(DIGITS_MLP, output_dir=out, show_summary=False)


def test_sequential_recipe_learns_digits(mlp_run):
    assert mlp_run.metrics["test_accuracy"] >= 0.85  # chance is 0.10
    assert mlp_run.metrics["test_examples"] == mlp_run.data_info["sizes"]["test"] > 300


def test_run_folder_holds_everything(mlp_run):
    names = {p.name for p in mlp_run.path.iterdir()}
    assert {"recipe.yaml", "run.json", "data.json", "env.json", "history.json", "metrics.json",
            "model.keras", "history.csv"} <= names
    info = json.loads((mlp_run.path / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 12
    history = json.loads((mlp_run.path / "history.json").read_text())
    assert history["epoch"] == list(range(1, 13)) and len(history["val_accuracy"]) == 12
    env = json.loads((mlp_run.path / "env.json").read_text())
    assert env["backend"] == "tensorflow" and env["keras"].startswith("3.")
    assert load_recipe(mlp_run.path / "recipe.yaml").train.epochs == 12
    assert not (mlp_run.path / "checkpoints").exists()


def test_load_run_gives_the_same_model(mlp_run):
    again = kerasforge.load_run(mlp_run.path)
    x = np.random.default_rng(1).random((5, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(again.model.predict(x, verbose=0), mlp_run.model.predict(x, verbose=0), atol=1e-6)
    assert again.metrics == mlp_run.metrics and again.class_names == [str(i) for i in range(10)]


@pytest.mark.parametrize("formats", [["keras"], ["h5"]])
def test_save_and_load_round_trip(mlp_run, tmp_path, formats):
    saved = save_model(mlp_run.model, tmp_path, formats)
    model = load_model_file(saved[formats[0]])
    x = np.random.default_rng(2).random((7, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), mlp_run.model.predict(x, verbose=0))


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_weights_round_trip(mlp_run, tmp_path):
    import keras

    saved = save_model(mlp_run.model, tmp_path, ["weights"])
    clone = keras.models.clone_model(mlp_run.model)
    clone.load_weights(saved["weights"])
    x = np.random.default_rng(3).random((7, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(clone.predict(x, verbose=0), mlp_run.model.predict(x, verbose=0))


def test_functional_recipe_with_two_inputs_and_two_outputs(tmp_path):
    recipe = {
        "name": "digits_two_views",
        "data": {"dataset": "digits", "views": {"top": "0:32", "bottom": "32:64"}},
        "model": {
            "inputs": {"top": [32], "bottom": [32]},
            "layers": [
                {"type": "Dense", "units": 32, "activation": "relu", "name": "top_features", "inputs": "top"},
                {"type": "Dense", "units": 32, "activation": "relu", "name": "bottom_features", "inputs": "bottom"},
                {"type": "Concatenate", "name": "merged", "inputs": ["top_features", "bottom_features"]},
                {"type": "Dense", "units": 64, "activation": "relu", "name": "hidden"},
                {"type": "Dropout", "rate": 0.2, "name": "drop"},
                {"type": "Dense", "units": 10, "activation": "softmax", "name": "main", "inputs": "drop"},
                {"type": "Dense", "units": 10, "activation": "softmax", "name": "aux", "inputs": "merged"},
            ],
            "outputs": ["main", "aux"],
        },
        "train": {"epochs": 15, "loss_weights": {"main": 1.0, "aux": 0.3}},
    }
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False)
    accuracies = {k: v for k, v in run.metrics.items() if k.endswith("accuracy")}
    assert accuracies and min(accuracies.values()) >= 0.8, run.metrics


def test_python_model_with_custom_train_step(tmp_path):
    recipe = {
        "name": "digits_subclassed",
        "data": {"dataset": "digits"},
        "model": {"ref": "user_models:SmallClassifier", "kwargs": {"hidden": 64}},
        "train": {"epochs": 12},
    }
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False)
    assert run.metrics["test_accuracy"] >= 0.8
    again = kerasforge.load_run(run.path)
    x = np.random.default_rng(4).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(again.model.predict(x, verbose=0), run.model.predict(x, verbose=0), atol=1e-5)


def test_python_builder_function(tmp_path):
    recipe = {"name": "digits_builder", "data": {"dataset": "digits"},
              "model": "user_models:build_mlp", "train": {"epochs": 12}}
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False)
    assert run.metrics["test_accuracy"] >= 0.8


def test_seed_makes_runs_reproducible(tmp_path):
    recipe = {**DIGITS_MLP, "train": {"epochs": 2}}
    first = kerasforge.train(recipe, output_dir=tmp_path / "a", show_summary=False)
    second = kerasforge.train(recipe, output_dir=tmp_path / "b", show_summary=False)
    assert first.history["loss"] == pytest.approx(second.history["loss"], rel=1e-5)


def test_predict_prints_top_classes(mlp_run, tmp_path, capsys):
    from PIL import Image
    from sklearn.datasets import load_digits

    from kerasforge.cli import main

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == 3)[0])
    Image.fromarray((digits.images[index] * 255 / 16).astype("uint8")).save(tmp_path / "three.png")
    np.save(tmp_path / "three.npy", (digits.images[index] / 16).astype("float32").reshape(8, 8, 1))
    assert main(["predict", str(mlp_run.path), str(tmp_path / "three.png"), str(tmp_path / "three.npy"),
                 "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.split(": ")[1].startswith("3 ") for line in lines), lines


def test_predict_uses_the_training_normalisation(tmp_path, capsys):
    from PIL import Image
    from sklearn.datasets import load_digits

    from kerasforge.cli import main

    recipe = {**DIGITS_MLP, "name": "digits_standardized", "data": {"dataset": "digits", "normalize": "standardize"},
              "train": {"epochs": 12}}
    run = kerasforge.train(kerasforge.Recipe.model_validate(recipe), output_dir=tmp_path, show_summary=False)
    assert run.data_info["preprocessing"]["normalize"] == "standardize"
    digits = load_digits()
    hits = 0
    for digit in range(10):
        index = int(np.flatnonzero(digits.target == digit)[-1])
        Image.fromarray((digits.images[index] * 255 / 16).astype("uint8")).save(tmp_path / f"{digit}.png")
        assert main(["predict", str(run.path), str(tmp_path / f"{digit}.png"), "--top", "1"]) == 0
        hits += capsys.readouterr().out.split(": ")[1].startswith(f"{digit} ")
    assert hits >= 8


def test_adapt_preprocessing_reaches_a_functional_models_first_layer_and_chains_adaptable_layers():
    import keras

    from kerasforge.pipeline import adapt_preprocessing

    x = np.random.default_rng(0).normal(5.0, 3.0, size=(500, 4)).astype("float32")
    inputs = keras.Input((4,))
    first, second = keras.layers.Normalization(), keras.layers.Normalization()
    model = keras.Model(inputs, keras.layers.Dense(2)(second(first(inputs))))
    adapt_preprocessing(model, x)
    assert np.allclose(np.asarray(first.mean).ravel(), x.mean(axis=0), atol=1e-3)
    assert np.allclose(np.asarray(second.mean).ravel(), 0.0, atol=1e-3)  # it saw the first layer's output
    assert np.allclose(np.asarray(second.variance).ravel(), 1.0, atol=1e-2)


def test_a_binary_task_with_a_two_unit_softmax_trains(tmp_path):
    """Tutorials often end a two-class model in Dense(2, softmax): the default loss must fit that output
    (sparse categorical cross-entropy), not binary cross-entropy on (N, 1) labels (a shape error mid-fit)."""
    rng = np.random.default_rng(0)
    rows = ["x1,x2,kind"] + [f"{a:.3f},{b:.3f},{label}" for label, centre in (("no", -1.5), ("yes", 1.5))
                             for a, b in rng.normal(centre, 1.0, size=(150, 2))]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    run = kerasforge.train({"name": "two_units", "seed": 0,
                            "data": {"dataset": "csv", "path": str(tmp_path / "table.csv"), "target": "kind"},
                            "model": {"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                                                 {"type": "Dense", "units": 2, "activation": "softmax"}]},
                            "train": {"epochs": 20, "batch_size": 16, "optimizer": {"type": "adam", "learning_rate": 0.01}}},
                           output_dir=tmp_path / "runs", show_summary=False, report=False, track=False)
    assert run.data_info["label_encoding"] == {next(iter(run.data_info["label_encoding"])): "sparse"}
    assert run.metrics["test_accuracy"] > 0.8  # two well-separated clusters; chance is 0.5
