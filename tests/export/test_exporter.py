"""Exports of real runs to every format: verified in their own runtimes, RAW inputs, cards with the figures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from export_cases import ALL_FORMATS, FASHION, IMDB_FORMATS

from kerasforge.export.verify import ACCURACY_TOLERANCE, FLOAT_TOLERANCE

ARTIFACTS = {"keras": "model.keras", "h5": "model.h5", "weights": "model.weights.h5", "savedmodel": "saved_model",
             "tflite": "model.tflite", "onnx": "model.onnx"}
pytestmark = pytest.mark.slow


def _check_card(result, run_path):
    folder = run_path / "exports" / result.path.name
    assert result.path == folder and (folder / ARTIFACTS[result.format]).exists()
    card = json.loads((folder / "model_card.json").read_text())
    v = card["verification"]
    assert v["passed"] is True and v["examples"] == 256
    if result.quantize:
        assert abs(v["accuracy_export"] - v["accuracy_keras"]) <= ACCURACY_TOLERANCE
    else:
        assert v["max_abs_diff"] <= FLOAT_TOLERANCE
    for name, entry in card["files"].items():  # sizes and checksums of what is really there
        data = (folder / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert card["size_bytes"] == sum(e["bytes"] for e in card["files"].values()) > 0
    assert card["metrics"] == json.loads((run_path / "metrics.json").read_text())
    return card


def test_fashion_run_exports_to_every_format_and_verifies(fashion_run, fashion_exports):
    assert sorted(fashion_exports) == sorted(ALL_FORMATS)
    for result in fashion_exports.values():
        card = _check_card(result, fashion_run)
        assert card["input"]["shape"] == [None, 28, 28, 1] and card["input"]["dtype"] == "float32"
        assert "raw pixel values 0..255" in card["input"]["description"]
        assert card["class_names"][:2] == ["T-shirt/top", "Trouser"] and card["output"]["shape"] == [None, 10]
        assert any("Rescaling" in step for step in card["preprocessing"]["built_in"])
    v = fashion_exports["tflite-dynamic"].verification
    assert v["max_abs_diff"] > 0  # really quantized, yet within a point of accuracy
    sizes = {name: r.card["size_bytes"] for name, r in fashion_exports.items()}
    assert sizes["tflite-dynamic"] < sizes["tflite-float16"] < sizes["tflite"]
    assert sizes["keras"] < 0.6 * (fashion_run / "model.keras").stat().st_size  # no optimizer state inside


def test_imdb_word_id_run_exports_to_every_format(imdb_run, imdb_exports):
    assert sorted(imdb_exports) == sorted(IMDB_FORMATS)
    for result in imdb_exports.values():
        card = _check_card(result, imdb_run)
        assert card["input"]["dtype"] == "int32" and card["input"]["shape"] == [None, 64]
        assert card["output"]["shape"] == [None, 1] and "probability of class 1" in card["output"]["meaning"]


def test_exports_take_raw_pixels_and_match_kforge_predict(fashion_run, fashion_exports, tmp_path):
    import onnxruntime as ort
    from PIL import Image

    from kerasforge.data.idx import read_idx
    from kerasforge.export.tflite import interpreter
    from kerasforge.predict import predict

    images = read_idx(Path(FASHION) / "t10k-images-idx3-ubyte.gz")[:5]  # uint8 28x28
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(image, "L").save(files[-1])
    class_names = fashion_exports["onnx"].card["class_names"]
    expected = np.zeros((len(files), 10))
    for i, row in enumerate(predict(fashion_run, files, top_k=10)):
        for name, p in row["top"]:
            expected[i, class_names.index(name)] = p
    raw = images.astype("float32")[..., None]  # pixels 0..255, natural layout, no scaling by us

    session = ort.InferenceSession(str(fashion_exports["onnx"].artifact))
    onnx_probs = session.run(None, {session.get_inputs()[0].name: raw})[0]
    runner = interpreter(fashion_exports["tflite"].artifact)
    (inp,), (out,) = runner.get_input_details(), runner.get_output_details()
    runner.resize_tensor_input(inp["index"], list(raw.shape))
    runner.allocate_tensors()
    runner.set_tensor(inp["index"], raw)
    runner.invoke()
    tflite_probs = runner.get_tensor(out["index"])
    for probs in (onnx_probs, tflite_probs):
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert np.max(np.abs(probs - expected)) < 1e-4
    # scaled inputs would give other answers: the scaling really is inside the graph
    scaled = session.run(None, {session.get_inputs()[0].name: raw / 255.0})[0]
    assert np.max(np.abs(scaled - expected)) > 1e-2


def test_raw_text_model_exports_to_keras_and_savedmodel(text_run):
    import keras
    import tensorflow as tf

    from kerasforge.export import export_run

    results = export_run(text_run, "keras,savedmodel", examples=64)
    reviews = np.array(["a wonderful, moving film", "dull and far too long"], dtype=object)
    keras_probs = keras.saving.load_model(results["keras"].artifact).predict(reviews, verbose=0)
    loaded = tf.saved_model.load(str(results["savedmodel"].artifact))  # keep it: it owns the variables
    tf_probs = loaded.serve(tf.constant(reviews.astype(str)))
    assert keras_probs.shape == (2, 1) and np.max(np.abs(keras_probs - np.asarray(tf_probs))) < 1e-5
    assert results["keras"].card["input"]["dtype"] == "string"


def test_unsupported_op_fails_clearly_and_leaves_the_run_untouched(text_run):
    from kerasforge.export import ExportError, export_run

    def snapshot():
        return {p.relative_to(text_run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(text_run.rglob("*")) if p.is_file()}

    before = snapshot()
    for fmt in ("tflite", "onnx"):
        with pytest.raises(ExportError) as caught:
            export_run(text_run, ["keras", fmt], examples=32)  # keras verifies, then the other fails: nothing written
        message = caught.value.message
        assert f"the {fmt} export failed" in message and "TextVectorization" in message, message
        assert "String" in message or "Regex" in message
    assert snapshot() == before
