"""Conformance with TF Serving's REST API document (tensorflow_serving/g3doc/api_rest.md), form by form.

Every request and response form the document specifies is sent to a real server on 127.0.0.1 serving a
TF Serving base path (version 1 an ONNX export, version 2 a SavedModel, labels ``stable`` and ``canary``),
a text model and a regression model; the answers are checked against the artifacts read independently
(ONNX Runtime, TensorFlow) and against each other.
"""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import requests
from PIL import Image

MODEL = "/v1/models/fashion"


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image.astype("uint8")).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _tf_error(response, status: int) -> str:
    """TF Serving's error body: exactly ``{"error": "<message>"}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    return body["error"]


# --- Model status API -------------------------------------------------------------------------------
def test_status_of_every_version_one_version_and_a_label(tf_client):
    available = {"state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert _ok(tf_client.get(MODEL)) == {"model_version_status": [{"version": "2", **available},
                                                                  {"version": "1", **available}]}
    assert _ok(tf_client.get(MODEL + "/versions/1")) == {"model_version_status": [{"version": "1", **available}]}
    assert _ok(tf_client.get(MODEL + "/labels/canary")) == {"model_version_status": [{"version": "2", **available}]}
    assert _tf_error(tf_client.get("/v1/models/half"), 404).startswith("Could not find any versions of model half")
    assert _tf_error(tf_client.get(MODEL + "/versions/7"), 404).startswith("Could not find version 7 of model fashion")
    assert "Unrecognized servable version label: nope" in _tf_error(tf_client.get(MODEL + "/labels/nope"), 404)


# --- Model metadata API -----------------------------------------------------------------------------
def test_metadata_gives_the_true_signature_of_each_version(tf_client, base_path):
    import onnxruntime
    import tensorflow as tf

    onnx = onnxruntime.InferenceSession(str(base_path / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = _ok(tf_client.get(MODEL + "/versions/1/metadata"))
    assert meta["model_spec"] == {"name": "fashion", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    (name, tensor), = signature["inputs"].items()
    assert name == onnx.get_inputs()[0].name and tensor["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in tensor["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert list(signature["outputs"]) == [onnx.get_outputs()[0].name]

    saved = tf.saved_model.load(str(base_path / "2")).signatures["serving_default"]
    latest = _ok(tf_client.get(MODEL + "/metadata"))  # no version: the latest, the SavedModel
    assert latest["model_spec"]["version"] == "2"
    signature = latest["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == set(saved.structured_input_signature[1])
    assert set(signature["outputs"]) == set(saved.structured_outputs)
    assert all(t["name"].endswith(":0") for t in [*signature["inputs"].values(), *signature["outputs"].values()])
    assert _ok(tf_client.get(MODEL + "/labels/stable/metadata"))["model_spec"]["version"] == "1"
    assert _ok(tf_client.get(MODEL + "/metadata"))["kforge"]["engine"] == "tensorflow"
    assert "Servable not found for request: Specific(fashion, 9)" in _tf_error(
        tf_client.get(MODEL + "/versions/9/metadata"), 404)


# --- Predict API: row and columnar formats ----------------------------------------------------------
def test_row_and_columnar_forms_named_and_unnamed_agree(tf_client, test_images):
    images = test_images[0][:4]
    name = next(iter(_ok(tf_client.get(MODEL + "/metadata"))["metadata"]["signature_def"]["signature_def"][
        "serving_default"]["inputs"]))
    rows = np.array(_ok(tf_client.post(MODEL + ":predict", json={"instances": images.tolist()}))["predictions"])
    assert rows.shape == (4, 10)
    named_rows = _ok(tf_client.post(MODEL + ":predict", json={"instances": [{name: i.tolist()} for i in images]}))
    columns = _ok(tf_client.post(MODEL + ":predict", json={"inputs": images.tolist()}))
    named_columns = _ok(tf_client.post(MODEL + ":predict", json={"inputs": {name: images.tolist()}}))
    np.testing.assert_allclose(named_rows["predictions"], rows, atol=1e-6)
    np.testing.assert_allclose(columns["outputs"], rows, atol=1e-6)
    np.testing.assert_allclose(named_columns["outputs"], rows, atol=1e-6)
    assert set(columns) == {"outputs"} and set(named_rows) == {"predictions"}


def test_versions_and_labels_in_predict_urls(tf_client, test_images):
    body = {"instances": test_images[0][:8].tolist()}
    answers = {}
    for path, version in ((":predict", "2"), ("/versions/1:predict", "1"), ("/versions/2:predict", "2"),
                          ("/labels/stable:predict", "1"), ("/labels/canary:predict", "2")):
        response = tf_client.post(MODEL + path, json=body)
        assert response.status_code == 200 and response.headers["x-kforge-model-version"] == version, path
        answers[path] = np.array(response.json()["predictions"])
    # ONNX Runtime (version 1) and TensorFlow (version 2) run the same trained model
    np.testing.assert_allclose(answers["/versions/1:predict"], answers["/versions/2:predict"], atol=1e-4)
    assert "Servable not found for request: Specific(fashion, 5)" in _tf_error(
        tf_client.post(MODEL + "/versions/5:predict", json=body), 404)
    assert _tf_error(tf_client.post("/v1/models/half:predict", json={"instances": [1.0, 2.0]}), 404).startswith(
        "Servable not found for request: Latest(half)")


def test_binary_values_images_and_text(tf_client, test_images):
    images = test_images[0][:3]
    raw = np.array(_ok(tf_client.post(MODEL + ":predict", json={"instances": images.tolist()}))["predictions"])
    encoded = [{"b64": _png(i)} for i in images]
    np.testing.assert_allclose(_ok(tf_client.post(MODEL + ":predict", json={"instances": encoded}))["predictions"],
                               raw, atol=1e-5)
    named = [{"pixels": {"b64": _png(i)}} for i in images]
    np.testing.assert_allclose(_ok(tf_client.post(MODEL + ":predict", json={"instances": named}))["predictions"],
                               raw, atol=1e-5)
    jpeg = io.BytesIO()
    Image.fromarray(images[0]).resize((56, 56)).save(jpeg, format="JPEG", quality=95)
    one = _ok(tf_client.post(MODEL + ":predict", json={"instances": [{"b64": base64.b64encode(
        jpeg.getvalue()).decode()}]}))["predictions"]
    assert np.argmax(one[0]) == np.argmax(raw[0])
    text = "a wonderful film, a masterpiece"
    plain = _ok(tf_client.post("/v1/models/reviews:predict", json={"instances": [text]}))["predictions"]
    binary = _ok(tf_client.post("/v1/models/reviews:predict", json={
        "instances": [{"b64": base64.b64encode(text.encode()).decode()}]}))["predictions"]
    assert plain == binary and plain[0][0] > 0.5


def test_signature_name_is_checked(tf_client, test_images):
    body = {"instances": test_images[0][:1].tolist()}
    _ok(tf_client.post(MODEL + ":predict", json={**body, "signature_name": "serving_default"}))
    message = _tf_error(tf_client.post(MODEL + ":predict", json={**body, "signature_name": "classify_objects"}), 400)
    assert message.startswith('Serving signature key "classify_objects" not found')


def test_the_tf_tutorial_client(tf_server, test_images):
    """The client of TF's "Train and serve a TensorFlow model with TensorFlow Serving" tutorial, verbatim in kind."""
    images, labels = test_images
    data = json.dumps({"signature_name": "serving_default", "instances": images[0:50, :, :, None].tolist()})
    headers = {"content-type": "application/json"}
    json_response = requests.post(f"{tf_server}/v1/models/fashion:predict", data=data, headers=headers, timeout=60)
    predictions = json.loads(json_response.text)["predictions"]
    assert (np.argmax(predictions, axis=1) == labels[:50]).mean() >= 0.5
    # and `curl -d '...' -X POST`, which sends a form content type
    curl = requests.post(f"{tf_server}/v1/models/fashion:predict", data=data.encode(), timeout=60,
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert curl.json()["predictions"] == predictions


# --- Classify and Regress API -----------------------------------------------------------------------
def test_classify_examples(tf_client, test_images):
    images, labels = test_images
    examples = [{"pixels": images[0].reshape(-1).tolist()}, {"pixels": {"b64": _png(images[1])}},
                {"image": images[2].tolist()}]
    result = _ok(tf_client.post(MODEL + ":classify", json={"examples": examples}))["result"]
    assert len(result) == 3 and all(len(r) == 10 for r in result)
    class_names = _ok(tf_client.get(MODEL + "/metadata"))["kforge"]["class_names"]
    assert [label for label, _ in result[0]] == class_names
    assert all(math.isclose(sum(score for _, score in r), 1.0, rel_tol=1e-4) for r in result)
    rows = np.array(_ok(tf_client.post(MODEL + ":predict", json={"instances": images[:3].tolist()}))["predictions"])
    np.testing.assert_allclose([[s for _, s in r] for r in result], rows, atol=1e-5)
    binary = _ok(tf_client.post("/v1/models/reviews:classify", json={
        "signature_name": "tensorflow/serving/classify", "examples": [{"text": "awful boring disaster"}]}))
    (neg, pos), = binary["result"]
    assert neg[0] == "neg" and pos[0] == "pos" and neg[1] > pos[1]
    clash = tf_client.post(MODEL + ":classify", json={"context": {"pixels": [0]}, "examples": [{"pixels": [0]}]})
    assert "must not appear in examples" in _tf_error(clash, 400)


def test_regress_examples(tf_client):
    rows = [[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]]
    predicted = _ok(tf_client.post("/v1/models/regression:predict", json={"instances": rows}))["predictions"]
    doc_form = {"signature_name": "tensorflow/serving/regress", "examples": [{"x": r} for r in rows]}
    result = _ok(tf_client.post("/v1/models/regression:regress", json=doc_form))["result"]
    np.testing.assert_allclose(result, [p[0] for p in predicted], rtol=1e-5)
    named = _ok(tf_client.post("/v1/models/regression:regress", json={"examples": [{"features": r} for r in rows]}))
    assert named["result"] == result
    assert "one output value per example" in _tf_error(
        tf_client.post(MODEL + ":regress", json={"examples": [{"pixels": [0] * 784}]}), 400)


# --- JSON mapping: NaN and Infinity for floats --------------------------------------------------------
def test_nan_and_infinity_are_accepted_for_float_inputs(tf_client):
    body = '{"instances": [[NaN, 1.0, 2.0], [Infinity, -Infinity, 1e3]], "signature_name": "serving_default"}'
    response = tf_client.post("/v1/models/regression:predict", content=body,
                              headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert "NaN" in response.text  # written back as TF Serving writes it
    values = json.loads(response.text)["predictions"]  # Python's json reads NaN
    assert math.isnan(values[1][0])  # Infinity - Infinity inside the model


@pytest.mark.parametrize("verb", ["predict", "classify", "regress"])
def test_error_bodies_of_every_verb(tf_client, verb):
    message = _tf_error(tf_client.post(f"/v1/models/nosuch:{verb}", json={"instances": [1], "examples": [{}]}), 404)
    assert message.startswith("Servable not found for request: Latest(nosuch)")
    assert _tf_error(tf_client.post(f"{MODEL}:{verb}", content=b"{not json",
                                    headers={"content-type": "application/json"}), 400)


# --- the input contract (kforge's extension) -----------------------------------------------------------
def test_pixels_scaled_to_0_1_get_a_warning_or_a_refusal(tf_server, tf_registry, test_images):
    """The TF tutorial's client divides by 255 first; this model takes raw pixels and would answer wrongly."""
    from serve_helpers import running_server

    from kerasforge.serve.app import create_app

    images, labels = test_images
    scaled = json.dumps({"signature_name": "serving_default", "instances": (images[:20] / 255.0).tolist()})
    headers = {"content-type": "application/json"}
    response = requests.post(f"{tf_server}/v1/models/fashion:predict", data=scaled, headers=headers, timeout=60)
    assert response.status_code == 200 and "0..255" in response.json()["warning"]
    assert "x-kforge-warning" in response.headers
    raw = requests.post(f"{tf_server}/v1/models/fashion:predict", json={"instances": images[:20].tolist()}, timeout=60)
    assert "warning" not in raw.json() and "x-kforge-warning" not in raw.headers
    blank = requests.post(f"{tf_server}/v1/models/fashion:predict", json={"instances": [np.zeros((28, 28)).tolist()]},
                          timeout=60)
    assert "warning" not in blank.json()  # an all-black image is a valid raw image
    with running_server(create_app(tf_registry, strict_inputs=True)) as strict:
        refused = requests.post(f"{strict}/v1/models/fashion:predict", data=scaled, headers=headers, timeout=60)
        assert refused.status_code == 400 and "0..255" in refused.json()["error"]
