"""Every endpoint of a real server: TF-Serving predict, classify, metadata, health, metrics, batching."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
from PIL import Image


def test_healthz_and_model_list(client):
    assert client.get("/healthz").json() == {"status": "ok", "models": 3}
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == {"fashion", "fashion_keras", "reviews"}
    assert models["fashion"]["engine"] == "onnxruntime"  # the run has exports/onnx/model.onnx
    assert models["fashion_keras"]["engine"] == "keras"


def test_model_metadata(client):
    assert client.get("/v1/models/fashion").json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = client.get("/v1/models/fashion/metadata").json()["kforge"]
    assert meta["class_names"][:2] == ["T-shirt/top", "Trouser"] and len(meta["class_names"]) == 10
    assert meta["input"]["shape"] == [None, 28, 28, 1] and meta["input"]["dtype"] == "float32"
    assert meta["input"]["range"] == [0, 255]
    assert "onnxruntime" in meta["versions"]
    assert client.get("/v1/models/reviews/metadata").json()["kforge"]["input"]["dtype"] == "string"


def test_tf_serving_client_request_gets_accurate_predictions(client, test_images):
    images, labels = test_images
    body = json.dumps({"signature_name": "serving_default", "instances": images[:100, :, :, None].tolist()})
    response = client.post("/v1/models/fashion:predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    predictions = np.array(response.json()["predictions"])
    assert predictions.shape == (100, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-4)
    assert (predictions.argmax(axis=1) == labels[:100]).mean() >= 0.5  # chance is 0.1


def test_onnx_and_keras_engines_agree_with_the_model(client, runs, test_images):
    import kerasforge

    images = test_images[0][:20]
    onnx = np.array(client.post("/v1/models/fashion:predict", json={"instances": images.tolist()}).json()["predictions"])
    keras_ = np.array(client.post("/v1/models/fashion_keras:predict",
                                  json={"instances": images.tolist()}).json()["predictions"])
    model = kerasforge.load_run(runs["fashion"]).model
    raw = images[..., None].astype("float32")  # image models scale raw pixels in their first layer
    scales_itself = model.layers[0].name == "kforge_input_scaling"
    direct = model.predict(raw if scales_itself else raw / 255.0, verbose=0)
    np.testing.assert_allclose(onnx, direct, atol=1e-4)
    np.testing.assert_allclose(keras_, direct, atol=1e-4)


def test_columnar_inputs_answer_outputs(client, test_images):
    images = test_images[0][:3].tolist()
    response = client.post("/v1/models/fashion:predict", json={"inputs": images})
    assert response.status_code == 200
    assert np.array(response.json()["outputs"]).shape == (3, 10)
    named = client.post("/v1/models/fashion:predict", json={"inputs": {"pixels": images}})
    assert named.json()["outputs"] == response.json()["outputs"]


def test_classify_uploaded_image(client, test_images):
    images, labels = test_images
    hits = 0
    for image, label in zip(images[:10], labels[:10], strict=True):
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        response = client.post("/v1/models/fashion:classify", files={"file": ("item.png", png.getvalue(), "image/png")})
        assert response.status_code == 200
        top = response.json()["top"]
        assert len(top) == 5 and top[0]["probability"] >= top[-1]["probability"]
        hits += top[0]["index"] == int(label)
    assert hits >= 5


def test_classify_rgb_jpeg_of_another_size(client, test_images):
    image = Image.fromarray(test_images[0][1]).resize((64, 64)).convert("RGB")
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG")
    response = client.post("/v1/models/fashion:classify?k=3", files={"file": ("x.jpg", jpeg.getvalue())})
    assert response.status_code == 200 and len(response.json()["top"]) == 3


def test_classify_instance_and_text(client):
    response = client.post("/v1/models/fashion:classify?k=10", json={"instance": np.zeros((28, 28)).tolist()})
    assert len(response.json()["top"]) == 10
    good = client.post("/v1/models/reviews:classify", json={"text": "a wonderful film, I loved it, a masterpiece"})
    assert good.json()["top"][0]["label"] == "pos"
    bad = client.post("/v1/models/reviews:classify", data={"text": "boring and dull, a waste, I hated it"})
    assert bad.json()["top"][0]["label"] == "neg"
    rows = client.post("/v1/models/reviews:predict", json={"instances": ["superb, delightful", "awful disaster"]})
    positive = np.array(rows.json()["predictions"])  # the model's own output: one sigmoid unit
    assert positive.shape == (2, 1) and positive[0, 0] > 0.5 > positive[1, 0]


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server, client, test_images):
    images = test_images[0][:48]
    alone = np.array(client.post("/v1/models/fashion:predict", json={"instances": images.tolist()}).json()["predictions"])
    before = _batch_stats(client.get("/metrics").text)

    async def burst():
        async with httpx.AsyncClient(base_url=server, timeout=60) as c:
            replies = await asyncio.gather(*[c.post("/v1/models/fashion:predict", json={"instances": [img.tolist()]})
                                             for img in images])
        return [np.array(r.json()["predictions"][0]) for r in replies]

    rows = asyncio.run(burst())
    np.testing.assert_allclose(np.stack(rows), alone, atol=1e-5)
    after = _batch_stats(client.get("/metrics").text)
    assert after[1] - before[1] == len(images)  # every example went through the engine once
    assert after[0] - before[0] < len(images)  # ... in fewer engine calls than requests


def _batch_stats(text: str) -> tuple[int, float]:
    """(engine calls, examples) of the ONNX model from the Prometheus text."""
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith('kforge_batch_size_count{model="fashion"}'):
            count = float(line.split()[-1])
        if line.startswith('kforge_batch_size_sum{model="fashion"}'):
            total = float(line.split()[-1])
    return int(count), total


def test_metrics_count_requests_by_endpoint_and_status(client):
    client.get("/v1/models/nope")
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert 'kforge_requests_total{endpoint="/v1/models/{name}",method="GET",status="404"}' in text
    assert "# TYPE kforge_request_duration_seconds histogram" in text
    assert 'kforge_model_info{model="fashion",engine="onnxruntime"} 1' in text


def test_docs_page_and_openapi(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for prefix in ("/v1/models/{name}", "/v1/models/{name}/versions/{version}", "/v1/models/{name}/labels/{label}"):
        for suffix in ("", "/metadata", ":predict", ":classify", ":regress"):
            assert prefix + suffix in paths


def test_index_page_is_self_contained(client):
    html = client.get("/").text
    assert "<canvas" in html and "v1/models" in html
    assert "http://" not in html and "https://" not in html  # no CDN, nothing external
