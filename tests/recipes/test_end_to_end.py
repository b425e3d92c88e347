"""Acceptance: every built-in recipe survives the whole path, on one shared shrunk run per recipe.

train (the smoke test's run: small subset, 1-3 epochs, smaller images/networks) -> the run's model.keras
reloaded (the run's own reload check) -> ``kforge predict`` -> every export format that applies, each
verified in its own runtime (Keras, TensorFlow, LiteRT, ONNX Runtime) -> ``kforge serve`` ``:predict``
(the app in-process) on one raw example, all agreeing. A format a recipe cannot support is listed in
the recipe (``export.unsupported``) with the reason, and must really fail: nothing is skipped silently.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from test_smoke import SMOKE

from kerasforge.recipe import builtin_recipe_names, load_recipe

FORMATS = ["keras", "h5", "weights", "savedmodel", "tflite", "onnx"]
TOLERANCE = 1e-4
EXAMPLES = 32  # held-out examples each export is verified on (the exporter's default is 256)
TIMINGS: dict[str, float] = {}
# Recipes the smoke test does not train: their shrunk form here
OWN = {"transfer_mobilenetv2": ["data.subset=64", "data.image_size=[32,32]", "train.epochs=1", "train.batch_size=16",
                                "model.kwargs.alpha=0.35", "model.kwargs.weights=cifar10",
                                "model.kwargs.pretrain={examples: 200, epochs: 1}"]}


def overrides(name: str) -> list[str]:
    return OWN[name] if name in OWN else SMOKE[name][0]


# The default set (what CI runs) covers one recipe of each kind of model and path — dense on JAX, CNN on
# TensorFlow, augmentation, LSTM, raw text, two views, a subclassed model, class weights; the recipes that
# repeat one of these kinds on more data, or take minutes (CIFAR-10, cats vs dogs, transfer), run in the
# full set (`bash scripts/test.sh --full`). mnist_cnn's path (Conv2D, pooling, dropout on MNIST) is
# mnist_cnn_plus's without its augmentation and batch normalization: the default set runs the latter (and
# still trains mnist_cnn in its smoke test).
FULL_ONLY = {"cats_dogs_scratch", "cifar10_cnn", "cifar10_resnet", "cifar10_speedrun", "fashion_mnist_best",
             "fashion_mnist_cnn", "fashion_mnist_cnn_tune", "fashion_mnist_cnn_tuned", "fashion_mnist_mlp",
             "imbalanced_focal", "l2", "lr_schedule", "mnist_cnn", "mnist_mlp_bn", "transfer_mobilenetv2"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.full] if n in FULL_ONLY else [])
                                  for n in sorted(builtin_recipe_names())])
def test_recipe_end_to_end(name, trained_recipe, tmp_path):
    from kerasforge.export import export_run
    from kerasforge.export.errors import ExportError

    run = trained_recipe(name, overrides(name))
    start = time.perf_counter()
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished" and info["reload_check"]["passed"], info
    unsupported = dict(load_recipe(name).export.unsupported) if load_recipe(name).export else {}
    applicable = [f for f in FORMATS if f not in unsupported]
    for fmt, reason in unsupported.items():  # listed as impossible: it must be, and say so clearly
        assert reason.strip()
        with pytest.raises(ExportError):
            export_run(run.path, [fmt], examples=8, output=tmp_path / "unsupported")
    results = export_run(run.path, applicable, examples=EXAMPLES) if applicable else {}
    for fmt in applicable:
        assert results[fmt].verification["passed"], (fmt, results[fmt].verification)

    x, reference = _one_example(run, results)
    if x is not None:
        _predict_agrees(run, x, reference, tmp_path)
        _serve_agrees(run, x, reference)
    TIMINGS[name] = time.perf_counter() - start + run.info.get("smoke_s", 0.0)
    print(f"{name}: end to end in {TIMINGS[name]:.1f} s (training {run.info.get('smoke_s', 0.0):.1f} s)")


def _one_example(run, results):
    """One RAW held-out example and the probabilities of the keras export (raw in, probabilities out)."""
    import keras

    from kerasforge.export.heldout import held_out_examples

    if "keras" not in results:
        return None, None
    x, _ = held_out_examples(run, 1)
    if x.dtype == np.float32:  # pixels: whole 8-bit values, as a file would hold them
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    model = keras.saving.load_model(results["keras"].artifact, compile=False, safe_mode=True)
    feed = x.astype(np.float32) if x.dtype == np.uint8 else x
    raw = model.predict(feed, verbose=0)
    if isinstance(raw, dict):  # several named outputs: the export keeps every one; the first is the main one
        assert sorted(raw) == sorted(model.output_names), raw.keys()
        raw = raw[model.output_names[0]]
    probabilities = np.asarray(raw, dtype="float64")
    if probabilities.shape[1] == 1:
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    return x, probabilities[0]


def _predict_agrees(run, x, reference, tmp_path):
    from kerasforge.predict import predict

    if x.dtype == object:
        file = tmp_path / "example.txt"
        file.write_text(str(x[0]), encoding="utf-8")
    else:
        file = tmp_path / "example.npy"
        np.save(file, x[0])
    (row,) = predict(run.path, [file], top_k=1)
    names = run.data_info.get("class_names") or []
    best = int(np.argmax(reference))
    assert row["top"][0][0] == (names[best] if best < len(names) else str(best))
    assert abs(row["top"][0][1] - reference[best]) <= TOLERANCE, (row, reference)


def _serve_agrees(run, x, reference):
    from fastapi.testclient import TestClient

    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    registry = ModelRegistry.from_paths([str(run.path)])
    (served,) = [registry.get(n) for n in registry.names()] if hasattr(registry, "names") else [
        next(iter(registry._models.values()))]
    with TestClient(create_app(registry)) as client:
        answer = client.post(f"/v1/models/{served.name}:predict", json={"instances": [_plain(x[0])]})
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"][0]
    outputs = (run.data_info or {}).get("outputs")
    if outputs:  # a multi-output model answers every output by name (TF Serving's row format)
        assert sorted(got) == sorted(outputs), got
        got = got[next(iter(outputs))]
    got = np.asarray(got, dtype="float64").ravel()
    if got.size == 1:
        got = np.array([1 - got[0], got[0]])
    np.testing.assert_allclose(got, reference, atol=TOLERANCE)


def _plain(example):
    return example if isinstance(example, str) else np.asarray(example).tolist()


def test_every_recipe_is_covered():
    assert set(builtin_recipe_names()) <= set(SMOKE) | set(OWN)
