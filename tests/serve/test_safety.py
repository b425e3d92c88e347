"""Bad requests get a 4xx JSON error that says what was expected: never a 5xx, never a crash."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_helpers import MAX_BYTES, TOKEN

IMAGE = np.zeros((28, 28)).tolist()


def _error(response, status: int) -> str:
    """The message of an error response, checked to be TF Serving's body ``{"error": "<message>"}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    assert response.headers["x-kforge-error"]  # kforge's short code rides in a header
    return body["error"]


def _post(client, body: str | bytes, model: str = "fashion"):
    return client.post(f"/v1/models/{model}:predict", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(("body", "expected"), [
    ("", "empty"),
    ("   ", "empty"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"instances": []}', "empty"),
    ('{"instances": 5}', "list"),
    ('{"something": [1]}', "instances"),
    ('{"instances": [[0]], "inputs": [[0]]}', "only one"),
    ('{"instances": [{"b64": "!!!"}]}', "base64"),
    ('{"instances": [{"pixels": [[0]], "other": [1]}]}', "one input"),
    ('{"instances": [{"wrong_name": [[0]]}]}', "'pixels'"),
    ('{"instances": [[[0]]], "signature_name": "nope"}', 'Serving signature key "nope" not found'),
    ('{"instances": [[1, 2, 3]]}', "28, 28, 1"),
    ('{"instances": [[[1, 2], [3]]]}', "numbers only"),
    ('{"instances": [[["a", "b"]]]}', "numbers only"),
    ('{"instances": [[[true, false]]]}', "numbers only"),
    ('{"instances": [[[null]]]}', "numbers only"),
    ('{"inputs": {"a": [1], "b": [2]}}', "one"),
])
def test_malformed_bodies(client, body, expected):
    assert expected in _error(_post(client, body), 400)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_values_are_no_pixels(client, value):
    rows = [[0] * 28 for _ in range(28)]
    body = '{"instances": [' + str(rows).replace("0", value, 1) + "]}"
    assert "no pixel values" in _error(_post(client, body), 400)


def test_pixels_out_of_range_and_wrong_shapes(client):
    assert "0..255" in _error(client.post("/v1/models/fashion:predict", json={"instances": [np.full((28, 28), 300).tolist()]}), 400)
    msg = _error(client.post("/v1/models/fashion:predict", json={"instances": [np.zeros((32, 32, 3)).tolist()]}), 400)
    assert "[32, 32, 3]" in msg and "[28, 28, 1]" in msg
    assert "string" in _error(client.post("/v1/models/reviews:predict", json={"instances": [[1, 2]]}), 400)


def test_too_many_instances(client):
    assert "at most 100" in _error(client.post("/v1/models/fashion:predict", json={"instances": [[1]] * 101}), 413)


def test_request_size_limit_by_content_length_and_chunked(client):
    big = b'{"instances": [' + b"0," * MAX_BYTES + b"0]}"
    assert "limit" in _error(_post(client, big), 413)

    def chunks():
        for _ in range(20):
            yield b" " * 100_000

    assert "limit" in _error(client.post("/v1/models/fashion:predict", content=chunks()), 413)
    assert client.get("/healthz").status_code == 200  # still serving


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def test_image_errors(client):
    url = "/v1/models/fashion:classify"
    assert "not a readable image" in _error(client.post(url, files={"file": ("x.png", b"hello, not an image")}), 400)
    png = io.BytesIO()
    Image.new("L", (28, 28)).save(png, format="PNG")
    truncated = png.getvalue()[: len(png.getvalue()) // 2]
    assert "not a readable image" in _error(client.post(url, files={"file": ("x.png", truncated)}), 400)
    assert "pixels" in _error(client.post(url, files={"file": ("bomb.png", _png_claiming(100_000, 100_000))}), 413)
    large = io.BytesIO()
    Image.new("L", (1200, 1200)).save(large, format="PNG")
    assert "at most 1000000 pixels" in _error(client.post(url, files={"file": ("big.png", large.getvalue())}), 413)
    assert "empty" in _error(client.post(url, files={"file": ("x.png", b"")}), 400)
    assert "does not take images" in _error(client.post("/v1/models/reviews:classify",
                                                        files={"file": ("x.png", png.getvalue())}), 400)


def test_classify_input_errors(client):
    assert "neither" in _error(client.post("/v1/models/fashion:classify", data={"other": "x"}), 400)
    assert "does not take raw text" in _error(client.post("/v1/models/fashion:classify", json={"text": "hi"}), 400)
    assert "non-empty" in _error(client.post("/v1/models/reviews:classify", json={"text": "  "}), 400)
    assert "non-empty" in _error(client.post("/v1/models/reviews:classify", json={"text": 42}), 400)
    assert "expected" in _error(client.post("/v1/models/fashion:classify", json={"what": 1}), 400)
    assert "k" in _error(client.post("/v1/models/fashion:classify?k=0", json={"instance": IMAGE}), 400)
    assert "k" in _error(client.post("/v1/models/fashion:classify?k=abc", json={"instance": IMAGE}), 400)


@pytest.mark.parametrize("name", ["nope", "..", "...", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2F..%2Frun.json",
                                  "fashion%00", "%252e%252e"])
def test_unknown_models_and_path_traversal(client, name):
    response = client.get(f"/v1/models/{name}")
    assert response.status_code == 404 and response.headers["x-kforge-error"] in ("model_not_found", "not_found")
    response = client.post(f"/v1/models/{name}:predict", json={"instances": [IMAGE]})
    assert response.status_code == 404


def test_unknown_routes_and_methods(client):
    assert _error(client.get("/nothing/here"), 404)
    assert _error(client.get("/v1/models/fashion:predict"), 404)
    assert _error(client.put("/v1/models"), 405)


def test_token_protects_everything_but_healthz(token_server):
    with httpx.Client(base_url=token_server, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/", "/v1/models", "/v1/models/fashion", "/metrics", "/docs", "/openapi.json", "/nothing"):
            response = c.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "Bearer" in response.json()["error"]
        assert c.post("/v1/models/fashion:predict", json={"instances": [IMAGE]}).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert c.get("/v1/models", headers=wrong).status_code == 401
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/v1/models", headers=right).status_code == 200
        assert c.post("/v1/models/fashion:predict", json={"instances": [IMAGE]}, headers=right).status_code == 200
        assert c.get(f"/?token={TOKEN}x").status_code == 401
    with httpx.Client(base_url=token_server, timeout=30, follow_redirects=True) as browser:
        page = browser.get(f"/?token={TOKEN}")  # sets the cookie, then redirects to /
        assert page.status_code == 200 and "<canvas" in page.text
        assert browser.get("/v1/models").status_code == 200
