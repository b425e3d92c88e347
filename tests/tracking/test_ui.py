"""``kforge ui``: MLflow's UI over the local store, on loopback only unless told otherwise."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from kerasforge.cli import main


@pytest.mark.slow  # starts the MLflow UI (~10-30 s on a shared machine)
def test_ui_answers_on_loopback_and_sigterm_stops_mlflows_server_too(run_copy, free_port, server_tools, tmp_path):
    """`kforge ui` serves the store's runs on 127.0.0.1; stopped with SIGTERM to its own process (systemd,
    docker stop, kill) it leaves no MLflow server listening."""
    from kerasforge.tracking import log_run

    log_run(run_copy)
    port = free_port()
    log = (tmp_path / "ui.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "kerasforge.cli", "ui", "--output", str(run_copy.parent),
                                "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server_tools["wait_for_http"](f"http://127.0.0.1:{port}/health", process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=digits_track")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b"digits_track" in response.read()

        os.kill(process.pid, signal.SIGTERM)  # to kforge's process alone, not its process group
        process.wait(timeout=30)
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    break
            assert time.monotonic() < deadline, "MLflow's server still listens after kforge ui got SIGTERM"
            time.sleep(0.5)
    finally:
        server_tools["stop"](process)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of its group (when the test failed)
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5"])
def test_ui_refuses_a_non_loopback_host(host, tmp_path, capsys):
    assert main(["ui", "--output", str(tmp_path), "--host", host]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and host in err
