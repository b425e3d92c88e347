"""Fixtures for tracking tests: one real digits run (shared), a real MLflow server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

DIGITS_RECIPE = {
    "name": "digits_track",
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 3, "batch_size": 64, "optimizer": {"type": "adam", "learning_rate": 0.01}},
}


@pytest.fixture(scope="session")
def trained_run_dir(tmp_path_factory) -> Path:
    """A finished 3-epoch digits run folder (trained once per session; copy it before changing it)."""
    import kerasforge

    output = tmp_path_factory.mktemp("trained") / "runs"
    run = kerasforge.train(DIGITS_RECIPE, output_dir=output, show_summary=False)
    return run.path


@pytest.fixture
def run_copy(trained_run_dir, tmp_path) -> Path:
    """A private copy of the trained run folder, inside its own ``runs`` folder."""
    target = tmp_path / "runs" / trained_run_dir.name
    shutil.copytree(trained_run_dir, target)
    return target


@pytest.fixture
def free_port():
    """A function giving a TCP port nothing listens on right now (on 127.0.0.1)."""
    return find_free_port


def find_free_port() -> int:
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    """Poll ``url`` until it answers 200 (bounded); fail when the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it spawned."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def start_mlflow_server(backend_uri: str, artifacts: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """A real ``mlflow server`` on 127.0.0.1 (one worker), answering ``/health``; returns it and its URL."""
    port = find_free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    handle = log.open("w")
    process = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health", process)
    except Exception:
        stop(process)
        raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-3000:]}") from None
    return process, url


@pytest.fixture
def server_tools():
    """``start_mlflow_server``, ``wait_for_http`` and ``stop`` for tests that run their own processes."""
    return {"start_mlflow_server": start_mlflow_server, "wait_for_http": wait_for_http, "stop": stop}


@pytest.fixture(scope="session")
def postgres_mlflow_server(tmp_path_factory):
    """A real MLflow server on a PostgreSQL backend, one per session (a cluster and a server take ~10 s):
    ``{"url", "stop", "start"}``, the last two stopping and starting the database under the running server
    (a test that stops it starts it again)."""
    from postgres_helpers import SKIP_REASON, postgres_cluster, postgres_tools

    if postgres_tools() is None:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("pg-mlflow-server")
    with postgres_cluster("mlflow") as pg:
        process, url = start_mlflow_server(pg["url"], root / "artifacts", root / "server.log")
        try:
            yield {"url": url, "stop": pg["stop"], "start": pg["start"]}
        finally:
            stop(process)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """URL of a real MLflow tracking server with a SQLite backend, stopped after the module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    process, url = start_mlflow_server(f"sqlite:///{root / 'server.db'}", root / "artifacts", root / "server.log")
    yield url
    stop(process)


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch):
    """Tests choose their store explicitly: no tracking URI from the environment."""
    monkeypatch.delenv("KFORGE_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
