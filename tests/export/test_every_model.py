"""Exports of the models the recipes build: augmentation (ONNX), LSTM/GRU (TFLite), runs trained on JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from export_cases import SHARED_DATA

import kerasforge
from kerasforge.export import export_run


def _train(recipe: dict, root: Path) -> Path:
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train(recipe, output_dir=root, show_summary=False, report=False).path


def test_an_augmented_cnn_exports_to_onnx_and_tflite(tmp_path):
    """cats_dogs_scratch / mnist_cnn_plus: ONNX failed on StatelessRandomUniformV2 before."""
    run = _train({"name": "augmented", "seed": 1, "data": {"dataset": "digits", "subset": 200},
                  "model": {"layers": [{"type": "RandomFlip", "mode": "horizontal"},
                                       {"type": "RandomRotation", "factor": 0.1},
                                       {"type": "RandomZoom", "height_factor": 0.1},
                                       {"type": "RandomTranslation", "height_factor": 0.1, "width_factor": 0.1},
                                       {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
                                       "Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
                  "train": {"epochs": 1}}, tmp_path)
    results = export_run(run, ["onnx", "tflite"])
    for result in results.values():
        assert result.verification["passed"] and result.verification["max_abs_diff"] <= 1e-4
        assert any("augmentation left out" in step and "(RandomFlip)" in step and "(RandomZoom)" in step
                   for step in result.card["preprocessing"]["built_in"])


def test_an_lstm_and_gru_model_exports_to_tflite_with_built_in_ops(tmp_path, monkeypatch):
    """imdb_lstm: TFLite failed on TensorListReserve before."""
    if not (SHARED_DATA / "aclImdb.tar.gz").is_file():
        pytest.skip(f"{SHARED_DATA}/aclImdb.tar.gz is not here")
    monkeypatch.setenv("KFORGE_DATA_DIR", str(SHARED_DATA))
    run = _train({"name": "recurrent", "seed": 1, "data": {"dataset": "imdb", "subset": 200, "num_words": 500,
                                                            "maxlen": 24},
                  "model": {"layers": [{"type": "Embedding", "input_dim": 500, "output_dim": 8},
                                       {"type": "LSTM", "units": 8, "return_sequences": True, "dropout": 0.2},
                                       {"type": "GRU", "units": 4},
                                       {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                  "train": {"epochs": 1, "loss": "binary_crossentropy"}}, tmp_path)
    (result,) = export_run(run, ["tflite"]).values()
    assert result.verification["passed"] and result.verification["max_abs_diff"] <= 1e-4
    from kerasforge.export.tflite import interpreter

    ops = {op["op_name"] for op in interpreter(result.artifact)._get_ops_details()}
    assert not any(op.startswith("Flex") or "TensorList" in op for op in ops), ops  # built-in ops only


@pytest.mark.slow
def test_a_run_trained_on_jax_exports_to_onnx_tflite_and_savedmodel(tmp_path):
    """Dense recipes train on JAX on a CPU; `kforge export` under JAX failed ("has never called") before. The
    int8 export's calibration examples reach the TensorFlow child that converts it.

    Each format is converted in a TensorFlow child process of its own (seconds each): the float ``tflite``
    export is left out here, as its child is the int8 one's without calibration (the float LiteRT
    conversion is checked on TensorFlow in test_exporter and in every recipe's end-to-end test)."""
    recipe = {"name": "dense_jax", "seed": 1, "backend": "jax", "data": {"dataset": "digits", "subset": 200},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"},
                                   {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"epochs": 1}}
    (tmp_path / "dense_jax.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "KERAS_BACKEND": "jax", "KFORGE_NO_TRACK": "1"}
    kforge = [sys.executable, "-m", "kerasforge.cli"]
    subprocess.run([*kforge, "train", str(tmp_path / "dense_jax.yaml"), "--output", str(tmp_path / "runs")],
                   check=True, env=env, capture_output=True, timeout=600)
    (run,) = (tmp_path / "runs").glob("dense_jax-*")
    assert json.loads((run / "env.json").read_text())["backend"] == "jax"
    done = subprocess.run([*kforge, "export", str(run), "--format", "onnx,savedmodel,tflite-int8"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for fmt in ("onnx", "savedmodel", "tflite-int8"):
        card = json.loads((run / "exports" / fmt / "model_card.json").read_text())
        assert card["verification"]["passed"], card
    # int8: calibrated in the TensorFlow child on training examples sent from the JAX process
    assert card["quantization"]["representative"]["examples"] == 180  # all 180 training examples (20 validate)
    assert card["quantization"]["input"]["dtype"] == card["quantization"]["output"]["dtype"] == "uint8"


def test_batch_normalization_runs_in_inference_mode_in_the_exports(tmp_path):
    """cifar10_resnet: ONNX and SavedModel traced the model in training mode (batch statistics) before."""
    run = _train({"name": "bn", "seed": 1, "data": {"dataset": "digits", "subset": 100},
                  "model": {"ref": "kerasforge.models.zoo.resnet:resnet",
                            "kwargs": {"stages": [1], "width": 4, "flip": True, "shift": 1}},
                  "train": {"epochs": 1, "batch_size": 16}}, tmp_path)
    (result,) = export_run(run, ["onnx"], examples=64).values()
    assert result.verification["passed"] and result.verification["max_abs_diff"] <= 1e-4
