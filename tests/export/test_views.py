"""Multi-input models fed by ``data.views``: the inference model takes ONE raw example and cuts the views
itself; every export, ``kforge predict`` and ``kforge serve`` then take plain images like any image model."""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pytest
from serve_helpers import free_port, running_server

from kerasforge.recipe import load_recipe
from kerasforge.runs import Run

# An 8x8 grayscale image (digits' units 0..16, standardised) cut into two views; "odd" takes columns out of
# order and in several runs, as CSV column lists do
VIEWS = {"kind": "image", "shape": [8, 8, 1], "runs": {"top": [[0, 32]], "odd": [[40, 44], [2, 3], [60, 64]]}}
INFO = {"kind": "tabular", "task": "multiclass", "class_names": [str(i) for i in range(10)], "num_classes": 10,
        "input_shape": {"top": [32], "odd": [9]}, "model_input_shape": {"top": [32], "odd": [9]},
        "preprocessing": {"normalize": "standardize", "offset": [4.9], "divisor": [6.1], "pixel_max": 16.0,
                          "views": VIEWS}}
RECIPE = {"name": "two_views", "data": {"dataset": "digits", "views": {"top": "0:32", "odd": "40:44"}},
          "model": {"inputs": {"top": [32], "odd": [9]},
                    "layers": [{"type": "Concatenate", "inputs": ["top", "odd"]}, {"type": "Dense", "units": 10}]},
          "train": {"loss": {"type": "sparse_categorical_crossentropy", "from_logits": True}}}


def _two_input_model():
    import keras

    keras.utils.set_random_seed(0)
    top, odd = keras.Input((32,), name="top"), keras.Input((9,), name="odd")
    merged = keras.layers.Concatenate()([keras.layers.Dense(6)(top), keras.layers.Dense(6)(odd)])
    return keras.Model({"top": top, "odd": odd}, keras.layers.Dense(10)(merged))  # logits


def _cut(raw: np.ndarray) -> dict[str, np.ndarray]:
    """The data pipeline's cut, written out by hand: scale, flatten, take each view's features."""
    scaled = (raw * (16.0 / 255.0) - 4.9) / 6.1
    flat = scaled.reshape(len(raw), -1)
    return {"top": flat[:, 0:32], "odd": np.concatenate([flat[:, 40:44], flat[:, 2:3], flat[:, 60:64]], axis=1)}


def test_the_inference_model_takes_one_raw_image_and_cuts_the_views(tmp_path):
    import keras

    from kerasforge.export import build_inference_model

    run = Run(path=tmp_path, recipe=load_recipe(RECIPE), model=_two_input_model(), data_info=INFO)
    wrapped = build_inference_model(run)
    assert wrapped.raw.kind == "image" and wrapped.raw.shape == [8, 8, 1] and len(wrapped.model.inputs) == 1
    assert any("odd = features 40:44 + 2:3 + 60:64" in step for step in wrapped.built_in)
    raw = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(run.model.predict(_cut(raw), verbose=0)))
    np.testing.assert_allclose(wrapped.model.predict(raw, verbose=0), expected, atol=1e-5)
    # built-in layers only: the saved inference model reloads in safe mode, without kerasforge's code
    wrapped.model.save(tmp_path / "inference.keras")
    again = keras.saving.load_model(tmp_path / "inference.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(again.predict(raw, verbose=0), expected, atol=1e-5)


def test_a_subclassed_model_gets_the_views_as_the_training_fed_them(tmp_path):
    import keras

    from kerasforge.export import build_inference_model

    class TwoViews(keras.Model):  # no symbolic inputs: the views go in as a dict of flat vectors
        def __init__(self):
            super().__init__()
            self.top, self.odd, self.head = keras.layers.Dense(4), keras.layers.Dense(4), keras.layers.Dense(10)

        def call(self, inputs):
            return self.head(keras.ops.concatenate([self.top(inputs["top"]), self.odd(inputs["odd"])], axis=-1))

    model = TwoViews()
    raw = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(_cut(raw), verbose=0)))
    wrapped = build_inference_model(Run(path=tmp_path, recipe=load_recipe(RECIPE), model=model, data_info=INFO))
    np.testing.assert_allclose(wrapped.model.predict(raw, verbose=0), expected, atol=1e-5)


def test_inputs_that_are_not_views_are_refused_with_the_reason(tmp_path):
    from kerasforge.export import build_inference_model
    from kerasforge.export.errors import ExportError

    info = {**INFO, "preprocessing": {k: v for k, v in INFO["preprocessing"].items() if k != "views"}}
    recipe = load_recipe({**RECIPE, "data": {"dataset": "digits"}})
    with pytest.raises(ExportError, match="not views of one raw example"):
        build_inference_model(Run(path=tmp_path, recipe=recipe, model=_two_input_model(), data_info=info))


# ---------------------------------------------------------------------------------------------------
# A real run: digits cut into a top and a bottom half, trained for one epoch
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def views_run(tmp_path_factory):
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train({
        "name": "digit_halves", "seed": 3,
        "data": {"dataset": "digits", "subset": 400, "normalize": "standardize",
                 "views": {"top": "0:32", "bottom": "32:64"}},
        "model": {"inputs": {"top": [32], "bottom": [32]},
                  "layers": [{"type": "Dense", "units": 16, "activation": "relu", "inputs": "top", "name": "t"},
                             {"type": "Dense", "units": 16, "activation": "relu", "inputs": "bottom", "name": "b"},
                             {"type": "Concatenate", "inputs": ["t", "b"]},
                             {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy", "batch_size": 32},
    }, output_dir=tmp_path_factory.mktemp("views"), show_summary=False, track=False)


def _views_reference(run, n: int) -> np.ndarray:
    """The trained two-input model on the views the data pipeline cut (not the export's own cut)."""
    from kerasforge.data import load_dataset

    ds = load_dataset(run.recipe.data, run.recipe.seed, validation_split=run.recipe.train.validation_split)
    return np.asarray(run.model.predict({k: v[:n] for k, v in ds.x_test.items()}, verbose=0))


def test_every_format_exports_and_equals_keras_on_the_views(views_run, tmp_path):
    from kerasforge.export import export_run
    from kerasforge.export.formats import FORMATS
    from kerasforge.export.heldout import held_out_examples

    recorded = json.loads((views_run.path / "data.json").read_text())["preprocessing"]["views"]
    assert recorded == {"kind": "image", "shape": [8, 8, 1], "runs": {"top": [[0, 32]], "bottom": [[32, 64]]}}
    formats = ["keras", "h5", "weights", "savedmodel", "tflite", "onnx"]
    results = export_run(views_run.path, formats, examples=32, output=tmp_path)
    x, _ = held_out_examples(views_run, 32)
    assert x.shape == (32, 8, 8, 1)  # one raw image per example
    reference = _views_reference(views_run, 32)
    for fmt in formats:
        card = results[fmt].card
        assert card["verification"]["passed"] and card["input_shape"] == [8, 8, 1] and card["kind"] == "image"
        predict = FORMATS[fmt].implementation().load(results[fmt].path, None if fmt != "weights" else _rebuild(
            views_run), fmt=fmt)
        np.testing.assert_allclose(predict(x), reference, atol=1e-4, err_msg=fmt)


def _rebuild(run):
    from kerasforge.export import build_inference_model
    from kerasforge.runs import load_run

    return lambda: build_inference_model(load_run(run.path)).model


def test_an_older_run_without_the_recorded_views_exports_the_same(views_run, tmp_path):
    from kerasforge.export import build_inference_model
    from kerasforge.export.heldout import held_out_examples
    from kerasforge.runs import load_run

    old = tmp_path / "old_run"
    shutil.copytree(views_run.path, old)
    info = json.loads((old / "data.json").read_text())
    del info["preprocessing"]["views"]  # as written before views were recorded: they are cut again from the data
    (old / "data.json").write_text(json.dumps(info))
    x, _ = held_out_examples(views_run, 16)
    wrapped = build_inference_model(load_run(old))
    np.testing.assert_allclose(wrapped.model.predict(x, verbose=0), _views_reference(views_run, 16), atol=1e-5)


def test_serve_and_predict_take_a_plain_image(views_run, tmp_path):
    from PIL import Image

    from kerasforge.export import export_run
    from kerasforge.export.heldout import held_out_examples
    from kerasforge.predict import predict
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    x, _ = held_out_examples(views_run, 1)
    image = np.clip(np.round(x[0]), 0, 255).astype(np.uint8)  # whole 8-bit pixels, as a file holds them
    file = tmp_path / "digit.png"
    Image.fromarray(image[..., 0], mode="L").save(file)
    run_copy = tmp_path / "run"
    shutil.copytree(views_run.path, run_copy)
    reference = _views_reference_of(views_run, image)

    array = tmp_path / "digit.npy"
    np.save(array, image[..., 0])  # a (8, 8) uint8 array, as a user would save one
    best = int(np.argmax(reference))
    for model, given in ((run_copy, file), (run_copy, array), (run_copy / "model.keras", file)):
        (row,) = predict(model, [given], top_k=1)  # the run folder or its model file: no export needed
        assert row["top"][0][0] == str(best) and abs(row["top"][0][1] - reference[best]) < 1e-4, (model, given)

    pixels = image.astype(float)
    top, bottom = pixels.reshape(-1)[:32].tolist(), pixels.reshape(-1)[32:].tolist()
    bodies = {  # body -> where its answer is
        "raw image": ({"instances": [pixels.tolist()]}, "predictions"),
        "raw image by its name": (None, "outputs"),  # the input's name comes from the metadata
        "named views, row form": ({"instances": [{"top": top, "bottom": bottom}]}, "predictions"),
        "named views, columnar form": ({"inputs": {"top": [top], "bottom": [bottom]}}, "outputs"),
    }
    for exported in (False, True):  # the run's Keras model, then its ONNX export (served when present)
        if exported:
            export_run(run_copy, ["onnx"], examples=16)
        registry = ModelRegistry.from_paths([f"halves={run_copy}"])
        port = free_port()
        with running_server(create_app(registry, grpc_address=("127.0.0.1", port))) as url:
            for what, (body, key) in bodies.items():
                body = body or {"inputs": {_input_name(url): [pixels.tolist()]}}
                answer = httpx.post(f"{url}/v1/models/halves:predict", json=body, timeout=60)
                assert answer.status_code == 200, (what, answer.text)
                np.testing.assert_allclose(answer.json()[key][0], reference, atol=1e-4, err_msg=f"{what} {exported}")
            missing = httpx.post(f"{url}/v1/models/halves:predict", json={"instances": [{"top": top}]}, timeout=60)
            by_grpc = _grpc_predict(port, {"top": np.float32([top]), "bottom": np.float32([bottom])})
        assert missing.status_code == 400 and "'bottom'" in missing.json()["error"], missing.text
        np.testing.assert_allclose(by_grpc[0], reference, atol=1e-4)


def _grpc_predict(port: int, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """TF Serving's gRPC Predict with one tensor per named input, through the package's own stub."""
    grpc = pytest.importorskip("grpc")
    pytest.importorskip("tensorflow_serving.apis")
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "halves"
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    (tensor,) = response.outputs.values()
    return tf.make_ndarray(tensor)


def _input_name(url: str) -> str:
    """The raw input's name as the server's metadata gives it (TF Serving's signature)."""
    meta = httpx.get(f"{url}/v1/models/halves/metadata", timeout=60).json()
    inputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    (name,) = inputs
    return name


def _views_reference_of(run, image: np.ndarray) -> np.ndarray:
    """The trained model on the views of ``image`` cut as the data pipeline cuts them (standardised, flat)."""
    pre = run.data_info["preprocessing"]
    scaled = (image.astype("float32") * (float(pre["pixel_max"]) / 255.0) - np.float32(pre["offset"][0])) \
        / np.float32(pre["divisor"][0])
    flat = scaled.reshape(1, -1)
    out = run.model.predict({"top": flat[:, :32], "bottom": flat[:, 32:]}, verbose=0)
    return np.asarray(out)[0]


def test_the_recorded_views_are_plain_json(tmp_path):
    """data.json keeps the cut as [start, stop) runs of the flattened example (readable, small)."""
    from kerasforge.data import load_dataset
    from kerasforge.recipe import DataSpec

    ds = load_dataset(DataSpec(dataset="digits", subset=50, views={"a": "8:16", "b": "0:8"}), seed=0)
    assert json.loads(json.dumps(ds.preprocessing["views"])) == {
        "kind": "image", "shape": [8, 8, 1], "runs": {"a": [[8, 16]], "b": [[0, 8]]}}


def test_csv_column_groups_export_and_serve_a_plain_row(tmp_path):
    """Two feature groups of a CSV (columns named out of order, one-hot columns in one group)."""
    import kerasforge
    from kerasforge.data import load_dataset
    from kerasforge.export import export_run
    from kerasforge.export.heldout import held_out_examples
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    rows = ["weight,height,colour,species"] + [
        f"{3 + i % 2 * 20 + i * 0.1:.1f},{20 + i % 2 * 30 + i % 5},{['red', 'blue', 'green'][i % 3]},{'cat dog'.split()[i % 2]}"
        for i in range(60)]
    (tmp_path / "animals.csv").write_text("\n".join(rows) + "\n")
    run = kerasforge.train({
        "name": "animals", "seed": 0,
        "data": {"dataset": "csv", "path": str(tmp_path / "animals.csv"), "target": "species", "test_split": 0.25,
                 "views": {"size": ["height", "weight"], "look": ["colour"]}},
        "model": {"inputs": {"size": [2], "look": [3]},
                  "layers": [{"type": "Concatenate", "inputs": ["size", "look"]},
                             {"type": "Dense", "units": 2, "activation": "softmax"}]},
        "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy", "batch_size": 8}},
        output_dir=tmp_path / "runs", show_summary=False, track=False)
    assert run.data_info["preprocessing"]["views"]["runs"] == {"size": [[1, 2], [0, 1]], "look": [[2, 5]]}
    results = export_run(run.path, ["keras", "onnx"], examples=15)
    x, _ = held_out_examples(run, 15)
    ds = load_dataset(run.recipe.data, run.recipe.seed, validation_split=run.recipe.train.validation_split)
    reference = np.asarray(run.model.predict({k: v[:15] for k, v in ds.x_test.items()}, verbose=0))
    assert x.shape == (15, 5) and results["onnx"].card["input_shape"] == [5]
    from kerasforge.export.onnx import load

    np.testing.assert_allclose(load(results["onnx"].path)(x), reference, atol=1e-5)
    with running_server(create_app(ModelRegistry.from_paths([f"animals={run.path}"]))) as url:
        answer = httpx.post(f"{url}/v1/models/animals:predict", json={"instances": x[:3].tolist()}, timeout=60)
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], reference[:3], atol=1e-5)
