"""The rehearsal before training (kerasforge.rehearsal): mistakes that used to stop a run midway stop
`kforge check --data` and the start of `kforge train` instead — exit 2, one paragraph naming the recipe
field, before any epoch — and a good recipe trains to the same weights with or without it.

In-process tests run on TensorFlow (see conftest.py); the `kforge` processes pick JAX for these dense
models, so both backends are covered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import kerasforge
from kerasforge.checks import check_recipe
from kerasforge.errors import KerasforgeError, TrainError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _rehearsal_on(monkeypatch):
    monkeypatch.delenv("KFORGE_REHEARSAL", raising=False)  # the suite turns it off elsewhere (conftest.py)
HEAD = {"type": "Dense", "units": 10, "activation": "softmax"}
HIDDEN = ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"}, {"type": "Dropout", "rate": 0.3}]


def _recipe(layers=None, **train) -> dict:
    return {"name": "rehearsed", "seed": 3, "data": {"dataset": "digits", "subset": 96},
            "model": {"layers": layers or [*HIDDEN, HEAD]}, "train": {"epochs": 2, "batch_size": 16, **train}}


# Each mistake passes `kforge check` without data and, before the rehearsal, failed (or trained silently
# wrong) only once training had started. (recipe, the field the error must name, words it must say)
MISTAKES = {
    "loss expects one-hot, labels are class ids": (
        _recipe(loss="rehearsal_code:one_hot_loss"), "train.loss", ["data.labels: one_hot"]),
    "metric incompatible with the labels": (
        _recipe(metrics=["accuracy", {"type": "MeanIoU", "num_classes": 10}]), "train.metrics[1]", ["MeanIoU"]),
    "custom loss that fails once compiled": (
        _recipe(loss="rehearsal_code:numpy_loss"), "train.loss", ["keras.ops"]),
    "custom metric that fails once compiled": (
        _recipe(metrics=["accuracy", "rehearsal_code:numpy_metric"]), "train.metrics[1]", ["keras.ops"]),
    "dtype error in a custom loss": (
        _recipe(loss="rehearsal_code:cost_weighted_loss"), "train.loss", ["keras.ops.cast"]),
    "outputs are not probabilities": (
        _recipe([*HIDDEN, {"type": "Dense", "units": 10}]), "model.layers[-1].activation", ["from_logits"]),
    "outputs do not sum to one": (
        _recipe([*HIDDEN, {"type": "Dense", "units": 10, "activation": "sigmoid"}]), "model.layers[-1].activation",
        ["softmax"]),
    "NaN loss on the first step (the model)": (
        _recipe(["Flatten", {"type": "Dense", "units": 16, "kernel_initializer": {"type": "Constant",
                                                                                  "value": 1.0e38}}, HEAD]),
        "model", ["NaN"]),
    "NaN loss on the first step (the loss)": (
        _recipe(loss="rehearsal_code:log_zero_loss"), "train.loss", ["NaN"]),
    "saves but does not reload": (
        _recipe(["Flatten", "rehearsal_code:Doubler", HEAD]), "model.layers[1]",
        ["register_keras_serializable", "Doubler"]),
    "reloads but predicts differently": (
        _recipe(["Flatten", {"type": "reload_models:ForgetfulScale", "factor": 3.0}, HEAD]), "model.layers[1]",
        ["predicts differently", "get_config"]),
}


def _assert_names(message: str, field: str, words: list[str]) -> None:
    assert message.startswith(f"{field}: the rehearsal before training failed"), message
    assert "Traceback" not in message and "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_stops_check_with_data_and_train_before_any_epoch(tmp_path, mistake):
    recipe, field, words = MISTAKES[mistake]
    check_recipe(recipe)  # the old check, without data, does not see it
    with pytest.raises(TrainError) as checked:
        check_recipe(recipe, data=True)
    _assert_names(checked.value.message, field, words)
    with pytest.raises(TrainError) as trained:
        kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, report=False, track=False)
    _assert_names(trained.value.message, field, words)
    assert not list(tmp_path.rglob("history.json")) and not list(tmp_path.rglob("model.keras"))
    assert not list(tmp_path.rglob("run.json"))  # no run folder at all: nothing to clean up


def test_a_seeded_run_trains_to_the_same_weights_with_and_without_the_rehearsal(tmp_path):
    runs = {}
    for rehearse in (True, False):
        recipe = _recipe(rehearsal=rehearse, optimizer={"type": "adam", "learning_rate": 0.01})
        runs[rehearse] = kerasforge.train(recipe, output_dir=tmp_path / str(rehearse), show_summary=False,
                                          report=False, track=False)
    with_it, without = runs[True].model.get_weights(), runs[False].model.get_weights()
    assert len(with_it) == len(without) > 0
    for a, b in zip(with_it, without, strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs[True].history["loss"] == runs[False].history["loss"]
    info = json.loads((runs[True].path / "run.json").read_text())
    assert info["rehearsal"]["examples"] == 16 and info["rehearsal"]["seconds"] > 0
    assert np.isfinite(info["rehearsal"]["train_loss"]) and "accuracy" in info["rehearsal"]["eval"]
    assert info["timings"]["rehearsal_s"] == info["rehearsal"]["seconds"]
    assert "rehearsal" not in json.loads((runs[False].path / "run.json").read_text())


def test_the_rehearsal_gives_back_every_variable_and_random_state():
    """What makes the weights identical: the step did change the model, and all of it was put back."""
    import random

    import keras

    from kerasforge.pipeline import prepare
    from kerasforge.recipe import load_recipe
    from kerasforge.rehearsal import rehearse

    recipe = load_recipe(_recipe(optimizer={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}))
    kerasforge.backend.set_random_seed(recipe.seed)
    prepared = prepare(recipe)
    model = prepared.model
    model.optimizer.build(model.trainable_variables)
    state = lambda: [np.array(keras.ops.convert_to_numpy(v.value)) for v in  # noqa: E731
                     [*model.variables, *model.optimizer.variables]]
    before, rng = state(), (random.getstate(), np.random.get_state()[1].copy())
    figures = rehearse(recipe, prepared)
    after = state()
    assert figures["examples"] == 16 and "loss" in figures["eval"] and figures["reload_max_abs_diff"] <= 1e-5
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], rng[1])
    assert random.getstate() == rng[0]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    model.train_on_batch(prepared.x["train"][:16], prepared.y["train"][:16])  # the same step, not thrown away
    assert any(not np.array_equal(a, b) for a, b in zip(before, state(), strict=True))


def test_check_without_data_does_not_read_the_data(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{'pq'[i % 2]}\n" for i in range(20)))
    recipe = {"name": "csv", "data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "target": "lable"},
              "model": {"layers": [{"type": "Dense", "units": 2, "activation": "softmax"}]}}
    assert check_recipe(recipe).startswith("csv: csv -> sequential model")  # the misspelt column goes unseen
    with pytest.raises(KerasforgeError) as caught:
        check_recipe(recipe, data=True)
    assert "lable" in caught.value.message


def _kforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests" / "fixtures")]),
           "KFORGE_WAIT": "1", "KFORGE_NO_TRACK": "1"}
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "kerasforge.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_the_command_line_exits_2_with_one_paragraph_and_trains_the_same_weights(tmp_path):
    """On the backend `kforge` picks for a dense model (JAX where installed): check --data and train stop a
    mistake with exit 2; a good recipe trains to the same weights with and without --no-rehearsal."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(MISTAKES["custom loss that fails once compiled"][0]))
    for command in (["check", str(bad), "--data"], ["train", str(bad), "--output", str(tmp_path / "runs")]):
        result = _kforge(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and "kforge: training error: train.loss: the rehearsal" in result.stderr
    assert not list(tmp_path.rglob("model.keras"))

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_recipe(optimizer={"type": "adam", "learning_rate": 0.01})))
    weights = {}
    for flag in ([], ["--no-rehearsal"]):
        out = tmp_path / ("plain" if flag else "rehearsed")
        result = _kforge("train", str(good), "--output", str(out), *flag, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert ("rehearsal: ok in" in result.stdout + result.stderr) == (not flag)
        (run,) = [p for p in out.iterdir() if (p / "run.json").is_file()]
        info = json.loads((run / "run.json").read_text())
        assert ("rehearsal" in info) == (not flag)
        weights[bool(flag)] = _keras_file_weights(run / "model.keras")
    assert len(weights[True]) == len(weights[False]) > 0
    for a, b in zip(weights[True], weights[False], strict=True):
        np.testing.assert_array_equal(a, b)


def _keras_file_weights(path: Path) -> list[np.ndarray]:
    """The weight arrays stored in a .keras file (a zip holding model.weights.h5), read without Keras."""
    import io
    import zipfile

    import h5py

    arrays: list[np.ndarray] = []
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
        f.visititems(lambda name, obj: arrays.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def test_skipped_when_switched_off_or_distributed(capsys):
    """`train.rehearsal: false` skips it; a distributed run skips it (no process may run a step before the
    collectives start together) and says so. Neither touches the prepared model (None here)."""
    from kerasforge.console import set_quiet
    from kerasforge.recipe import load_recipe
    from kerasforge.rehearsal import before_training

    set_quiet(False)
    assert before_training(load_recipe(_recipe(rehearsal=False)), None) is None
    assert before_training(load_recipe(_recipe()), None, distributed=True) is None
    captured = capsys.readouterr()
    assert "rehearsal: skipped (a distributed run" in captured.out + captured.err


@pytest.mark.parametrize("value", ["0", "off"])
def test_the_environment_switches_it_off_for_every_run(monkeypatch, value):
    """`$KFORGE_REHEARSAL=0` skips it without touching the recipe (None: a prepared model would fail)."""
    from kerasforge.recipe import load_recipe
    from kerasforge.rehearsal import before_training

    monkeypatch.setenv("KFORGE_REHEARSAL", value)
    assert before_training(load_recipe(_recipe()), None) is None
    monkeypatch.setenv("KFORGE_REHEARSAL", "1")
    with pytest.raises(AttributeError):  # on: it rehearses, and the None stands in for a prepared model
        before_training(load_recipe(_recipe()), None)


def test_switching_the_rehearsal_off_does_not_change_the_runs_fingerprint():
    """`--no-rehearsal` (train.rehearsal=false) on a rerun still resumes the interrupted run of the recipe."""
    from kerasforge.recipe import load_recipe
    from kerasforge.runs import fingerprint

    assert fingerprint(load_recipe(_recipe())) == fingerprint(load_recipe(_recipe(rehearsal=False)))
    assert fingerprint(load_recipe(_recipe())) != fingerprint(load_recipe(_recipe(epochs=3)))


def test_a_failure_while_preparing_that_is_not_kerasforges_is_one_paragraph_naming_the_model():
    from kerasforge.recipe import load_recipe
    from kerasforge.rehearsal import prepare_explained

    def prepare(recipe, **kwargs):  # what `prepare` raises when Keras cannot build a model on the data
        raise ValueError("Input 0 of layer 'dense' is incompatible with the layer\n  expected axis -1 ...")

    recipe = load_recipe(_recipe())
    with pytest.raises(TrainError) as failed:
        prepare_explained(prepare, recipe, data=None)
    message = failed.value.message
    assert message.startswith("model: the model could not be prepared on the real data"), message
    assert "incompatible with the layer" in message and "\n" not in message and "Traceback" not in message
    assert prepare_explained(lambda recipe, **kwargs: ("prepared", kwargs), recipe, data=1) == ("prepared", {"data": 1})
