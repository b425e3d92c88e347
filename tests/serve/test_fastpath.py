"""The plain-ASGI predict path answers exactly as the FastAPI route would, and leaves everything else to it."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from kerasforge.serve.fastpath import PredictFastPath
from kerasforge.serve.inputs import Limits, dumps


def _call(app, method: str, path: str, body: bytes = b"", with_headers: bool = False) -> tuple:
    """One request through an ASGI app, in process."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    result = sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
    return (*result, dict(sent[0]["headers"])) if with_headers else result


class _Recorder:
    """The app behind the fast path: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"behind"})


def test_predict_is_answered_by_the_engine_and_other_requests_pass_through(registry, test_images):
    behind = _Recorder()
    model = registry.get("fashion")

    async def run_model(served, x):
        return served.engine.predict(x)

    app = PredictFastPath(behind, registry, run_model, Limits())
    images = test_images[0][:4]
    status, body = _call(app, "POST", "/v1/models/fashion:predict",
                         json.dumps({"instances": images.tolist()}).encode())
    assert status == 200 and behind.paths == []
    got = np.array(json.loads(body)["predictions"])
    np.testing.assert_allclose(got, model.engine.predict(images[..., None].astype("float32")), atol=1e-6)

    for method, path in (("GET", "/v1/models/fashion:predict"), ("POST", "/v1/models/fashion:classify"),
                         ("GET", "/healthz"), ("PUT", "/v1/models/fashion")):
        assert _call(app, method, path) == (299, b"behind")
    assert behind.paths == [("GET", "/v1/models/fashion:predict"), ("POST", "/v1/models/fashion:classify"),
                            ("GET", "/healthz"), ("PUT", "/v1/models/fashion")]


def test_client_errors_get_the_servers_json_error_bodies(registry):
    async def run_model(served, x):  # never reached: every request below is refused before the model
        raise AssertionError("the model must not run")

    app = PredictFastPath(_Recorder(), registry, run_model, Limits(max_instances=2))
    cases = {b"": (400, "empty_body"), b"{nope": (400, "invalid_json"), b"[1]": (400, "bad_request"),
             b'{"instances": [[1, 2]]}': (400, "bad_shape"), b'{"instances": [1, 2, 3]}': (413, "too_many_instances")}
    for body, (status, code) in cases.items():
        got_status, got, headers = _call(app, "POST", "/v1/models/fashion:predict", body, with_headers=True)
        assert (got_status, headers[b"x-kforge-error"].decode()) == (status, code), body
        assert isinstance(json.loads(got)["error"], str)
    status, got = _call(app, "POST", "/v1/models/nosuch:predict", b'{"instances": [1]}')
    assert status == 404 and json.loads(got)["error"].startswith("Servable not found for request: Latest(nosuch).")


def test_dumps_writes_float32_arrays_that_read_back_exactly():
    probs = np.array([[0.1, 0.2, 0.7]], dtype="float32")
    back = np.array(json.loads(dumps({"predictions": probs}))["predictions"], dtype="float32")
    np.testing.assert_array_equal(back, probs)
