"""``kforge serve`` as a user runs it: a subprocess on a free port, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import free_port

KFORGE = str(Path(sys.executable).parent / "kforge")


def test_kforge_serve_serves_several_models_with_a_token(runs):
    port = free_port()
    env = {**os.environ, "KFORGE_TOKEN": "from-env"}
    proc = subprocess.Popen([KFORGE, "serve", str(runs["fashion_onnx"]), f"words={runs['reviews']}", "--port",
                             str(port), "--max-batch", "16", "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kforge serve did not start"
            time.sleep(0.3)
        headers = {"Authorization": "Bearer from-env"}
        assert httpx.get(url + "/v1/models").status_code == 401
        names = [m["name"] for m in httpx.get(url + "/v1/models", headers=headers).json()["models"]]
        assert names == ["fashion", "words"]
        reply = httpx.post(url + "/v1/models/fashion:predict", headers=headers,
                           json={"instances": np.zeros((2, 28, 28, 1)).tolist()})
        assert np.array(reply.json()["predictions"]).shape == (2, 10)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_kforge_serve_reports_a_missing_run_in_one_paragraph(tmp_path):
    result = subprocess.run([KFORGE, "serve", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "neither a run folder nor an export" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([KFORGE, "serve", f"bad/name={tmp_path}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2


def test_help_does_not_import_the_server():
    code = ("import sys, contextlib, io\nfrom kerasforge.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n        main(['serve', '--help'])\n    except SystemExit:\n        pass\n"
            "assert '--max-batch' in out.getvalue()\n"
            "assert 'fastapi' not in sys.modules and 'onnxruntime' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.slow
def test_kforge_export_base_path_then_serve_it_with_labels(runs, base_path, tmp_path):
    import shutil

    base = tmp_path / "fashion"
    shutil.copytree(base_path / "1", base / "1")
    result = subprocess.run([KFORGE, "export", str(runs["fashion"]), "--format", "tflite", "--base-path", str(base),
                             "--examples", "32"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # the next free version, nothing hidden left
    assert subprocess.run([KFORGE, "export", str(runs["fashion"]), "--format", "onnx,tflite", "--base-path",
                           str(base)], capture_output=True, text=True, timeout=120).returncode == 2
    port = free_port()
    proc = subprocess.Popen([KFORGE, "serve", str(base), "--port", str(port), "--label", "stable=1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kforge serve did not start"
            time.sleep(0.3)
        status = httpx.get(url + "/v1/models/fashion").json()["model_version_status"]
        assert [s["version"] for s in status] == ["2", "1"]
        body = {"instances": np.zeros((1, 28, 28)).tolist()}
        latest = httpx.post(url + "/v1/models/fashion:predict", json=body)
        stable = httpx.post(url + "/v1/models/fashion/labels/stable:predict", json=body)
        assert latest.headers["x-kforge-model-version"] == "2" and stable.headers["x-kforge-model-version"] == "1"
        assert httpx.get(url + "/v1/models/fashion/metadata").json()["kforge"]["engine"] == "litert"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
