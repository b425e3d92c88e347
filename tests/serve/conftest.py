"""Serving fixtures: runs trained once per session, real uvicorn servers on 127.0.0.1, httpx clients."""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import MAX_BYTES, TOKEN, running_server, trained_runs

from kerasforge.serve.app import create_app
from kerasforge.serve.inputs import Limits
from kerasforge.serve.registry import ModelRegistry


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def registry(runs):
    return ModelRegistry.from_paths([f"fashion_keras={runs['fashion']}", str(runs["fashion_onnx"]),
                                     str(runs["reviews"])])


@pytest.fixture(scope="session")
def base_path(runs, tmp_path_factory):
    """A TF Serving base path of the fashion model: version 1 ONNX, version 2 SavedModel (``kforge export``)."""
    from kerasforge.export import export_run

    base = tmp_path_factory.mktemp("models") / "fashion"
    export_run(runs["fashion"], ["onnx"], base_path=base, examples=64)
    export_run(runs["fashion"], ["savedmodel"], base_path=base, examples=64)
    return base


@pytest.fixture(scope="session")
def tf_registry(runs, base_path):
    return ModelRegistry.from_paths([str(base_path), str(runs["reviews"]), str(runs["regression"])],
                                    labels=["fashion:stable=1", "fashion:canary=2"])


@pytest.fixture(scope="session")
def tf_server(tf_registry):
    """A server as TF Serving would be started on the base path (plus a text and a regression model)."""
    with running_server(create_app(tf_registry)) as url:
        yield url


@pytest.fixture
def tf_client(tf_server):
    with httpx.Client(base_url=tf_server, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def server(registry):
    app = create_app(registry, max_request_bytes=MAX_BYTES, limits=Limits(max_instances=100,
                                                                           max_image_pixels=1_000_000))
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="session")
def token_server(registry):
    with running_server(create_app(registry, token=TOKEN)) as url:
        yield url


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def test_images():
    """200 real Fashion-MNIST test images (uint8, 28x28) and their labels."""
    from pathlib import Path

    from kerasforge.data.idx import read_idx

    folder = Path("/usr/share/datasets/fashion-mnist")
    return (read_idx(folder / "t10k-images-idx3-ubyte.gz")[:200],
            read_idx(folder / "t10k-labels-idx1-ubyte.gz")[:200])
