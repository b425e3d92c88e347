"""Where the pixels are scaled, through the whole pipeline: a functional model scales raw uint8 pixels in its
first layer (then reload, predict, every export and serve take raw pixels); a subclassed model streams
uint8 pixels and scales each batch, with the same training as the float32 copy it used to get."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kerasforge
from kerasforge.console import set_quiet
from kerasforge.data.host_scaling import ScaledRows
from kerasforge.data.scaling import SCALING_LAYER, first_layer
from kerasforge.pipeline import prepare
from kerasforge.recipe import load_recipe

FORMATS = ["keras", "h5", "weights", "savedmodel", "tflite", "onnx"]


def colour_folder(root: Path, per_class: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 40, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KFORGE_NO_TRACK", "1")
    monkeypatch.delenv("KFORGE_MEMORY_BUDGET", raising=False)
    set_quiet(True)
    return colour_folder(tmp_path / "colours")


def functional(folder: Path, out: Path) -> dict:
    return {"name": "graph", "seed": 3,
            "data": {"dataset": "image_folder", "path": str(folder), "normalize": "standardize",
                     "image_size": [8, 8]},
            "model": {"inputs": {"photo": [8, 8, 3]},
                      "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu",
                                  "name": "conv", "inputs": "photo"},
                                 {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 3, "activation": "softmax"}]},
            "train": {"epochs": 3, "batch_size": 8, "validation_split": 0.2,
                      "optimizer": {"type": "adam", "learning_rate": 0.05}},
            "output": {"dir": str(out), "formats": ["keras"]}}


def test_a_functional_model_keeps_pixels_uint8_and_scales_them_itself(folder: Path, tmp_path: Path) -> None:
    prepared = prepare(load_recipe(functional(folder, tmp_path / "runs")))
    assert prepared.x["train"].dtype == np.uint8 and prepared.x["test"].dtype == np.uint8
    assert first_layer(prepared.model).name == SCALING_LAYER
    assert prepared.model.inputs[0].name == "photo" and prepared.model.get_layer("conv") is not None
    assert prepared.data_plan.scaling == "in the model (its first layer)" and not prepared.data_plan.stream
    assert prepared.dataset.preprocessing["in_model"]["normalize"] == "standardize"


def test_a_functional_run_reloads_predicts_exports_and_serves_on_raw_pixels(folder: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from kerasforge.export import export_run
    from kerasforge.predict import predict
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    run = kerasforge.train(functional(folder, tmp_path / "runs"), show_summary=False, report=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["reload_check"]["passed"] and info["data_path"]["scaling"] == "in the model (its first layer)"
    assert run.metrics["test_accuracy"] >= 0.9
    reloaded = kerasforge.load_run(run.path).model
    assert first_layer(reloaded).name == SCALING_LAYER
    from kerasforge.report.build import report_run

    report_run(run.path)  # `kforge report`: the reloaded model takes raw pixels (its layers[0] is the InputLayer)
    evaluation = json.loads((run.path / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(run.metrics["test_accuracy"], abs=1e-6)
    results = export_run(run.path, FORMATS, examples=16)
    assert all(results[f].verification["passed"] for f in FORMATS), {f: r.verification for f, r in results.items()}

    png = folder / "blue" / "3.png"
    raw = np.asarray(Image.open(png))
    expected = reloaded.predict(raw[None].astype(np.float32), verbose=0)[0]  # raw pixels in, as trained
    np.save(tmp_path / "blue.npy", raw)
    for row in predict(run.path, [png, tmp_path / "blue.npy"], top_k=3):
        probabilities = dict(row["top"])
        for i, name in enumerate(run.data_info["class_names"]):
            assert abs(probabilities[name] - expected[i]) <= 1e-4, (row, expected)
    registry = ModelRegistry.from_paths([str(run.path)])
    with TestClient(create_app(registry)) as client:
        answer = client.post(f"/v1/models/{registry.names()[0]}:predict", json={"instances": [raw.tolist()]})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"][0], expected, atol=1e-4)


def subclassed(folder: Path, stream) -> dict:
    return {"name": "own_step", "seed": 5,
            "data": {"dataset": "image_folder", "path": str(folder), "image_size": [8, 8], "stream": stream},
            "model": {"ref": "kerasforge.models.zoo.custom:ClippedClassifier", "kwargs": {"hidden": [16]}},
            "train": {"epochs": 2, "batch_size": 8, "shuffle": False, "validation_split": 0.2},
            "output": {"formats": ["keras"]}}


def test_a_subclassed_model_streams_uint8_pixels_scaled_per_batch(folder: Path, tmp_path: Path) -> None:
    """Before: the whole dataset in float32 on the host (and it could not stream at all). The same losses as
    that float32 copy (file order, one seed), and predictions scale a raw file the same way."""
    prepared = prepare(load_recipe(subclassed(folder, "auto")))
    assert isinstance(prepared.x["train"], ScaledRows) and prepared.x["train"].raw.dtype == np.uint8
    assert prepared.data_plan.stream and prepared.data_plan.scaling == "per batch on the host"
    assert "ClippedClassifier is a subclassed model" in prepared.data_plan.reason

    streamed = kerasforge.train(subclassed(folder, "auto"), output_dir=tmp_path / "a", show_summary=False)
    in_memory = kerasforge.train(subclassed(folder, False), output_dir=tmp_path / "b", show_summary=False,
                                 report=False)
    assert json.loads((streamed.path / "run.json").read_text())["data_path"]["stream"] is True
    memory_path = json.loads((in_memory.path / "run.json").read_text())["data_path"]
    assert memory_path["stream"] is False and memory_path["scaling"].startswith("on the host, in float32")
    for key in ("loss", "val_loss", "grad_norm"):
        np.testing.assert_allclose(streamed.history[key], in_memory.history[key], rtol=1e-4)
    assert streamed.metrics["test_accuracy"] == pytest.approx(in_memory.metrics["test_accuracy"], abs=1e-6)
    evaluation = json.loads((streamed.path / "evaluation.json").read_text())  # the report read scaled chunks
    assert evaluation["accuracy"] == pytest.approx(streamed.metrics["test_accuracy"], abs=1e-6)
    pre = streamed.data_info["preprocessing"]
    assert pre["offset"] == 0.0 and pre["divisor"] == 255.0 and "in_model" not in pre

    from kerasforge.predict import predict

    png = folder / "green" / "5.png"
    raw = np.asarray(Image.open(png))
    np.save(tmp_path / "green.npy", raw)
    expected = streamed.model.predict(raw[None].astype(np.float32) / 255.0, verbose=0)[0]
    for row in predict(streamed.path, [png, tmp_path / "green.npy"], top_k=3):
        probabilities = dict(row["top"])
        for i, name in enumerate(streamed.data_info["class_names"]):
            assert abs(probabilities[name] - expected[i]) <= 1e-4, (row, expected)


@pytest.mark.skipif(__import__("keras").backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's")
def test_a_subclassed_models_uint8_pixels_stay_in_memory_when_they_fit(folder: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fits: raw pixels in memory, fed by tf.data (no Python per batch); data.stream: true, or an in-memory
    peak that does not fit, streams them as before."""
    fits = prepare(load_recipe(subclassed(folder, "auto"))).data_plan
    assert fits.stream and fits.feed == "tf.data" and "it fits in memory" in fits.reason
    assert "in memory as raw values, each training batch gathered by tf.data" in fits.describe()
    assert prepare(load_recipe(subclassed(folder, True))).data_plan.feed == ""
    import kerasforge.data.placement as placement

    monkeypatch.setattr(placement, "IN_MEMORY_SHARE", 1e-9)  # the pre-flight's in-memory peak does not fit
    tight = prepare(load_recipe(subclassed(folder, "auto"))).data_plan
    assert tight.stream and tight.feed == "" and "fits in memory" not in tight.reason
