"""Full-integer (int8) LiteRT exports: calibrated on the run's training data, integer input and output tensors,
reloaded and served with their quantization applied, and refused clearly when a model cannot be all-integer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli import main
from kerasforge.export.errors import ExportError
from kerasforge.export.tflite import float_ops, from_output, interpreter, load, to_input

TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="module")
def int8_exports(fashion_run, tmp_path_factory):
    """The Fashion-MNIST CNN exported by `kforge export` in float32 and with --quantize int8."""
    out = tmp_path_factory.mktemp("int8")
    assert main(["export", str(fashion_run), "--format", "tflite", "--output", str(out), "-q"]) == 0
    assert main(["export", str(fashion_run), "--format", "tflite", "--quantize", "int8", "--output", str(out),
                 "-q"]) == 0
    return out


def test_an_int8_export_has_integer_tensors_is_smaller_and_verifies(int8_exports):
    artifact = int8_exports / "tflite-int8" / "model.tflite"
    runner = interpreter(artifact)
    (inp,), (out,) = runner.get_input_details(), runner.get_output_details()
    assert (np.dtype(inp["dtype"]), np.dtype(out["dtype"])) == (np.uint8, np.uint8)
    assert inp["quantization"] == (1.0, 0)  # a raw pixel 0..255 is its own quantized value
    assert out["quantization"][0] == pytest.approx(1 / 256)
    assert float_ops(artifact) == []  # nothing computes in float32 inside
    assert float_ops(int8_exports / "tflite" / "model.tflite")  # ...which the float32 export does
    float32 = (int8_exports / "tflite" / "model.tflite").stat().st_size
    assert artifact.stat().st_size < 0.5 * float32

    card = json.loads((int8_exports / "tflite-int8" / "model_card.json").read_text())
    v = card["verification"]
    assert card["quantize"] == "int8" and v["passed"] and v["criterion"].startswith("|accuracy_export")
    assert v["max_abs_diff"] > 0 and abs(v["accuracy_delta"]) <= 0.01
    q = card["quantization"]
    assert q["input"] == {"dtype": "uint8", "scale": 1.0, "zero_point": 0}
    assert q["output"]["dtype"] == "uint8" and q["output"]["scale"] == pytest.approx(1 / 256)
    assert q["representative"]["examples"] == 300 and q["representative"]["split"] == "train"
    assert "seed 1" in q["representative"]["source"]
    assert card["input"]["dtype"] == "uint8" and "uint8" in card["input"]["description"]
    assert card["output"]["dtype"] == "uint8"
    assert main(["export", str(int8_exports / "tflite-int8"), "--verify-only", "--examples", "64", "-q"]) == 0


def test_the_representative_set_is_a_seeded_draw_of_training_examples_as_raw_pixels(fashion_run):
    from kerasforge.export.heldout import held_out_examples, representative_examples
    from kerasforge.runs import load_run

    run = load_run(fashion_run)
    first, again = representative_examples(run), representative_examples(run)
    assert first.shape == (300, 28, 28, 1) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert (first.min(), first.max()) == (0.0, 255.0)
    test_x, _ = held_out_examples(run, 300)
    assert not any(np.array_equal(a, b) for a, b in zip(first[:20], test_x[:20], strict=True))


def test_the_loader_quantizes_floats_and_dequantizes_probabilities(int8_exports):
    from kerasforge.data.idx import read_idx

    pixels = read_idx(TEST_IMAGES)[:32, :, :, None]
    predict = load(int8_exports / "tflite-int8")
    as_uint8, as_float = predict(pixels.astype(np.uint8)), predict(pixels.astype(np.float32))
    assert as_float.dtype == np.float32 and as_float.shape == (32, 10)
    np.testing.assert_array_equal(as_uint8, as_float)  # raw pixels are the quantized values already
    np.testing.assert_allclose(as_float.sum(axis=1), 1.0, atol=0.04)
    float_model = load(int8_exports / "tflite")(pixels.astype(np.float32))
    assert np.mean(as_float.argmax(1) == float_model.argmax(1)) >= 0.9


def test_quantizing_and_dequantizing_follow_the_tensor_parameters():
    int8 = {"dtype": np.int8, "quantization": (0.5, -10)}
    np.testing.assert_array_equal(to_input(np.array([-100.0, 0.0, 1.26, 200.0]), int8),
                                  np.array([-128, -10, -7, 127], np.int8))  # round(x / 0.5) - 10, clipped
    given = np.array([3, 4], np.int8)
    assert to_input(given, int8).tolist() == [3, 4]  # already quantized: not quantized again (that gives -4, -2)
    np.testing.assert_allclose(from_output(np.array([-10, 10], np.int8), int8), [0.0, 10.0])
    plain = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert to_input(np.array([1, 2]), plain).dtype == np.float32
    assert from_output(np.array([0.25], np.float32), plain).tolist() == [0.25]


def test_kforge_serve_answers_an_int8_export_with_probabilities(int8_exports, fashion_run):
    import httpx
    from serve_helpers import running_server

    from kerasforge.data.idx import read_idx
    from kerasforge.export.inference_model import build_inference_model
    from kerasforge.runs import load_run
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    images = read_idx(TEST_IMAGES)[:64]
    keras_probs = build_inference_model(load_run(fashion_run)).model.predict(
        images[..., None].astype("float32"), verbose=0)
    registry = ModelRegistry.from_paths([f"fashion8={int8_exports / 'tflite-int8'}"])
    with running_server(create_app(registry)) as url, httpx.Client(base_url=url, timeout=60) as client:
        meta = client.get("/v1/models/fashion8/metadata").json()
        response = client.post("/v1/models/fashion8:predict", json={"instances": images.tolist()})
    assert meta["kforge"]["engine"] == "litert"
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert next(iter(signature["inputs"].values()))["dtype"] == "DT_UINT8"  # the artifact's true input
    assert next(iter(signature["outputs"].values()))["dtype"] == "DT_FLOAT"  # answered dequantized
    assert response.status_code == 200, response.text
    probs = np.array(response.json()["predictions"])
    assert probs.shape == (64, 10) and probs.min() >= 0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.04)
    assert np.mean(probs.argmax(1) == keras_probs.argmax(1)) >= 0.9


def test_a_layer_without_an_int8_kernel_is_named_and_the_fix_given(tmp_path):
    import keras

    from kerasforge.export import tflite

    inputs = keras.Input((8,))
    hidden = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    examples = np.random.default_rng(0).normal(size=(20, 8)).astype("float32")
    with pytest.raises(ExportError, match=r"cannot be fully integer-quantized.*norm \(LayerNormalization\)") as err:
        tflite.save(model, tmp_path, quantize="int8", representative=examples)
    assert "--quantize dynamic" in err.value.message and "--quantize float16" in err.value.message
    with pytest.raises(ExportError, match="representative examples"):
        tflite.save(model, tmp_path, quantize="int8")


@pytest.mark.slow
def test_a_refused_int8_export_leaves_the_run_and_its_exports_as_they_were(tmp_path, capsys):
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    run = kerasforge.train({
        "name": "digits_norm", "seed": 1, "data": {"dataset": "digits", "subset": 100},
        "model": {"layers": ["Flatten", {"type": "Dense", "units": 8, "activation": "relu"}, "LayerNormalization",
                             {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "train": {"epochs": 1},
    }, output_dir=tmp_path, show_summary=False).path
    assert main(["export", str(run), "--format", "keras", "--examples", "32", "-q"]) == 0
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert main(["export", str(run), "--format", "keras,tflite-int8", "--examples", "32", "-q"]) == 2
    err = capsys.readouterr().err
    assert "tflite-int8 export of digits_norm failed" in err and "layer_normalization (LayerNormalization)" in err
    assert "--quantize dynamic" in err and "Traceback" not in err
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()}
    assert after == before  # model.keras and exports/keras untouched, no tflite-int8 folder


def test_a_model_taking_raw_text_is_refused_before_converting(text_run, capsys):
    assert main(["export", str(text_run), "--format", "tflite", "--quantize", "int8", "-q"]) == 2
    err = capsys.readouterr().err
    assert "an int8 export cannot take raw text" in err and "export keras or savedmodel" in err
    assert not (text_run / "exports" / "tflite-int8").exists()


def test_kforge_predict_reads_a_tflite_export_and_gives_probabilities(int8_exports, fashion_run, tmp_path):
    from PIL import Image

    from kerasforge.data.idx import read_idx
    from kerasforge.predict import predict

    images = read_idx(TEST_IMAGES)[:12]
    files = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    np.save(tmp_path / "one.npy", images[0])
    on_run = predict(fashion_run, files, top_k=10)
    for export in (int8_exports / "tflite-int8", int8_exports / "tflite" / "model.tflite"):
        rows = predict(export, [*files, tmp_path / "one.npy"], top_k=10)
        assert len(rows) == 13 and rows[-1]["top"] == rows[0]["top"]  # the .npy is the first image
        for row in rows:
            assert sum(p for _, p in row["top"]) == pytest.approx(1.0, abs=0.04)
        agree = [row["top"][0][0] == ref["top"][0][0] for row, ref in zip(rows, on_run, strict=False)]
        assert sum(agree) >= 11, export
    alone = tmp_path / "fashion.tflite"  # a file without its card: class ids for names
    alone.write_bytes((int8_exports / "tflite" / "model.tflite").read_bytes())
    (row,) = predict(alone, files[:1], top_k=1)
    class_names = json.loads((fashion_run / "data.json").read_text())["class_names"]
    assert class_names[int(row["top"][0][0])] == on_run[0]["top"][0][0]
    float_rows = predict(int8_exports / "tflite", files, top_k=10)
    for got, ref in zip(float_rows, on_run, strict=True):  # the float32 export: the run's own probabilities
        assert dict(got["top"]) == pytest.approx(dict(ref["top"]), abs=1e-4)
