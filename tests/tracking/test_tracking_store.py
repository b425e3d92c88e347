"""Resolving the tracking URI and failing clearly when the store is out of reach."""

from __future__ import annotations

import json
import time

import pytest

from kerasforge.tracking import TrackingError, log_run, resolve_tracking_uri
from kerasforge.tracking.store import HTTP_LIMITS, artifact_root, bound_http_requests, sqlite_path


def test_explicit_uri_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("KFORGE_TRACKING_URI", "http://127.0.0.1:1111")
    assert resolve_tracking_uri("http://127.0.0.1:2222") == "http://127.0.0.1:2222"


def test_kforge_variable_wins_over_mlflow_variable(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:3333")
    assert resolve_tracking_uri(None) == "http://127.0.0.1:3333"
    monkeypatch.setenv("KFORGE_TRACKING_URI", "http://127.0.0.1:4444")
    assert resolve_tracking_uri(None) == "http://127.0.0.1:4444"


def test_default_is_an_absolute_sqlite_store_in_the_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = resolve_tracking_uri(None, "myruns")
    assert uri == f"sqlite:///{tmp_path / 'myruns' / 'mlflow.db'}"
    assert sqlite_path(uri) == tmp_path / "myruns" / "mlflow.db"
    assert artifact_root(uri, "elsewhere") == tmp_path / "myruns" / "mlartifacts"
    assert artifact_root("http://127.0.0.1:5000", "myruns") is None


def test_a_folder_path_means_that_folders_store(tmp_path):
    assert resolve_tracking_uri(str(tmp_path / "team")) == f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"


def test_unreachable_server_is_a_quick_clear_error_and_the_run_is_untouched(run_copy, monkeypatch, free_port):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    before = (run_copy / "run.json").read_text()
    start = time.monotonic()
    with pytest.raises(TrackingError) as caught:
        log_run(run_copy, tracking_uri=uri)
    assert time.monotonic() - start < 15
    message = caught.value.message
    assert uri in message and "not reachable" in message and "mlflow server" in message
    assert "kforge track" in message  # how to log the saved run later
    assert "queued" in message  # and `kforge track --pending` finds it
    after = json.loads((run_copy / "run.json").read_text())
    assert after.pop("tracking_pending")["tracking_uri"] == uri  # the only change: the run waits to be logged
    assert after == json.loads(before)
    assert "mlflow_run_id" not in after


def test_a_folder_that_is_no_run_is_a_clear_error(tmp_path):
    from kerasforge.errors import KerasforgeError

    with pytest.raises(KerasforgeError, match="not a kerasforge run folder"):
        log_run(tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")


def test_mlflow_http_requests_are_bounded_to_seconds_unless_the_user_set_their_own(monkeypatch):
    for name in HTTP_LIMITS:  # unset, and restored afterwards (bound_http_requests sets os.environ)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    in_force = bound_http_requests()
    assert in_force == HTTP_LIMITS
    # a server whose database is down answers no request: each try costs the whole timeout
    tries = 1 + int(in_force["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    assert tries * float(in_force["MLFLOW_HTTP_REQUEST_TIMEOUT"]) <= 10  # MLflow's own: 8 x 120 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    assert bound_http_requests()["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "1"  # the user's value is kept
