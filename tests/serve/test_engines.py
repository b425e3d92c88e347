"""Every export format serves, each in its own runtime, with the artifact's true tensor names in the model card
and in TF Serving's metadata; answers agree with the ONNX export's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serve_helpers import running_server

from kerasforge.errors import KerasforgeError
from kerasforge.serve.app import create_app
from kerasforge.serve.registry import ModelRegistry, open_model

ENGINES = {"savedmodel": "tensorflow", "tflite": "litert", "keras": "keras", "h5": "keras", "onnx": "onnxruntime"}


@pytest.fixture(scope="module")
def exports(runs, tmp_path_factory):
    from kerasforge.export import export_run

    out = tmp_path_factory.mktemp("exports")
    export_run(runs["fashion"], ["savedmodel", "tflite", "keras", "h5", "onnx", "weights"], output=out, examples=64)
    return out


def test_every_export_folder_serves_in_its_runtime(exports, test_images):
    import httpx

    registry = ModelRegistry.from_paths([f"{fmt}={exports / fmt}" for fmt in ENGINES])
    images = test_images[0][:16]
    with running_server(create_app(registry)) as url, httpx.Client(base_url=url, timeout=60) as c:
        answers = {}
        for fmt, engine in ENGINES.items():
            meta = c.get(f"/v1/models/{fmt}/metadata").json()
            assert meta["kforge"]["engine"] == engine, fmt
            card = json.loads((exports / fmt / "model_card.json").read_text())
            signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
            assert list(signature["inputs"]) == [card["input"]["name"]], fmt  # the card tells the truth
            assert list(signature["outputs"]) == [card["output"]["name"]], fmt
            assert card["input"]["range"] == [0, 255] and meta["kforge"]["input"]["range"] == [0, 255]
            named = {"instances": [{card["input"]["name"]: image.tolist()} for image in images]}
            response = c.post(f"/v1/models/{fmt}:predict", json=named)
            assert response.status_code == 200, (fmt, response.text)
            answers[fmt] = np.array(response.json()["predictions"])
    for fmt, got in answers.items():
        np.testing.assert_allclose(got, answers["onnx"], atol=1e-4, err_msg=fmt)
    card = json.loads((exports / "tflite" / "model_card.json").read_text())
    assert card["output"]["tensor"].endswith(":0")  # LiteRT's graph tensor, e.g. StatefulPartitionedCall_1:0


def test_a_weights_only_export_is_refused_with_a_reason(exports):
    with pytest.raises(KerasforgeError, match="weights-only"):
        open_model(exports / "weights")


def test_a_tabular_run_is_served_with_its_training_scaling(runs, tmp_path):
    """A run's Keras model takes scaled features; its export scales them inside. Both must answer alike."""
    from kerasforge.export import export_run

    export_run(runs["regression"], ["onnx"], output=tmp_path, examples=32)
    run = open_model(runs["regression"])
    export = open_model(tmp_path / "onnx")
    assert (run.engine.name, export.engine.name) == ("keras", "onnxruntime")
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.0, 2.0, 0.0]], dtype="float32")
    np.testing.assert_allclose(run.engine.predict(x), export.engine.predict(x), atol=1e-4)
