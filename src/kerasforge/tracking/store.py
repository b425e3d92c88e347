"""Where runs are tracked: the MLflow tracking URI, a client for it, and errors that name it.

The default store is embedded, needs no server and lives beside the run folders:
``sqlite:///<output_dir>/mlflow.db`` with artifacts in ``<output_dir>/mlartifacts/``. A team points
``--tracking-uri`` (or ``$KFORGE_TRACKING_URI`` / ``$MLFLOW_TRACKING_URI``) at an MLflow server.

Example:
    >>> resolve_tracking_uri(None, "/tmp/runs")            # doctest: +SKIP
    'sqlite:////tmp/runs/mlflow.db'
    >>> resolve_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import KerasforgeError

DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
ENV_VARS = ("KFORGE_TRACKING_URI", "MLFLOW_TRACKING_URI")
REACH_TIMEOUT_S = 5.0


class TrackingError(KerasforgeError):
    """The tracking store (MLflow) could not be reached or written; the run folder is unaffected."""

    kind = "tracking error"


def resolve_tracking_uri(uri: str | None, output_dir: str | Path = "runs") -> str:
    """The tracking URI to use: ``uri``, else ``$KFORGE_TRACKING_URI``, else ``$MLFLOW_TRACKING_URI``,
    else the embedded SQLite store ``sqlite:///<absolute output_dir>/mlflow.db``.

    A plain folder path is taken as that folder's embedded store.

    >>> resolve_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    for candidate in (uri, *(os.environ.get(name) for name in ENV_VARS)):
        if candidate and candidate.strip():
            candidate = candidate.strip()
            if "://" not in candidate and not candidate.startswith(("databricks", "sqlite:")):
                return default_store_uri(candidate)  # a folder: its embedded store
            return candidate
    return default_store_uri(output_dir)


def default_store_uri(output_dir: str | Path) -> str:
    """``sqlite:///<absolute output_dir>/mlflow.db``."""
    return f"sqlite:///{(Path(output_dir).expanduser().resolve() / DB_NAME).as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for other URIs or in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///"):].split("?", 1)[0])  # sqlite:////abs/path or sqlite:///relative
    return None if path in ("", ":memory:") else Path(path)


def is_remote(uri: str) -> bool:
    """True for an MLflow tracking server (``http(s)://``) or a hosted store."""
    return uri.startswith(("http://", "https://", "databricks"))


def artifact_root(uri: str, output_dir: str | Path) -> Path | None:
    """Where a new experiment's artifacts go for a local store (``None``: a server decides).

    Next to the SQLite file, else under ``output_dir`` — never ``./mlruns`` in the working directory.
    """
    if is_remote(uri) or uri.startswith("file:"):
        return None
    db = sqlite_path(uri)
    return (db.parent if db else Path(output_dir).expanduser().resolve()) / ARTIFACTS_DIR


def store_exists(uri: str) -> bool:
    """Whether there is something to read at ``uri``: an existing SQLite file or folder, or any server URI."""
    db = sqlite_path(uri)
    if db is not None:
        return db.is_file()
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path)).is_dir()
    return not uri.startswith("sqlite:")


def check_reachable(uri: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """For an ``http(s)`` URI, fail fast with a :class:`TrackingError` when nothing answers there.

    MLflow itself retries unreachable servers for minutes; any HTTP answer (even 401/404) counts as
    reachable here, so authentication is left to MLflow.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"the MLflow tracking server at {uri} is not reachable ({reason})", where=uri,
                            fix=_fix(uri)) from None


# MLflow's own defaults (7 retries with a factor-2 backoff, a 120 s timeout) let one request to a server
# whose database is down take minutes; a training run would wait for them. Set unless the user did.
# A server whose database is down does not answer at all (it retries its connection for minutes), so each
# try costs the whole timeout: 5 s x 2 tries + the backoff keeps a failed logging near 11 s.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5"}


def bound_http_requests() -> dict[str, str]:
    """Bound MLflow's HTTP timeouts and retries (:data:`HTTP_LIMITS`) where the environment leaves them
    unset; returns the settings in force. A request to a failing server then gives up within seconds.

    >>> bound_http_requests()["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]   # doctest: +SKIP
    '1'
    """
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in HTTP_LIMITS}


def make_client(uri: str) -> Any:
    """An ``mlflow.tracking.MlflowClient`` for ``uri`` (checked to be reachable first; HTTP requests
    bounded by :func:`bound_http_requests`)."""
    bound_http_requests()
    check_reachable(uri)
    db = sqlite_path(uri)
    # MLflow's own INFO lines ("Creating initial MLflow database tables...") are not news to the user.
    logging.getLogger("mlflow").setLevel(max(logging.getLogger("mlflow").level, logging.WARNING))
    with tracking_errors(uri, "open the tracking store"):
        from mlflow.tracking import MlflowClient

        if db is not None and not db.is_file():
            db.parent.mkdir(parents=True, exist_ok=True)
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            # creates the tables with MLflow's "Default" experiment beside the database, not in ./mlruns
            SqlAlchemyStore(uri, str(artifact_root(uri, db.parent)))

        return MlflowClient(tracking_uri=uri)


def experiment_id(client: Any, name: str, uri: str, output_dir: str | Path) -> str:
    """The id of experiment ``name``, created when missing (local stores: artifacts under ``output_dir``)."""
    with tracking_errors(uri, f"find or create the experiment {name!r}"):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(found.experiment_id)
            return found.experiment_id
        root = artifact_root(uri, output_dir)
        location = str(root / _safe_folder(name)) if root else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except Exception:  # created meanwhile by a parallel process (a tuning worker)
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


@contextlib.contextmanager
def tracking_errors(uri: str, action: str) -> Iterator[None]:
    """Turn any failure of the block into one :class:`TrackingError` naming ``uri`` and a fix."""
    try:
        yield
    except KerasforgeError:
        raise
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {lines[0] if lines else ''}"[:400]
        raise TrackingError(f"could not {action} in the MLflow store {uri} ({detail})", where=uri,
                            fix=_fix(uri)) from exc


def _fix(uri: str) -> str:
    later = "The run folder is saved either way; log it later with `kforge track RUN_FOLDER --tracking-uri URI`."
    if is_remote(uri):
        return (f"Check that the MLflow server runs at that address (e.g. `mlflow server --host 127.0.0.1 "
                f"--port 5000`), or leave --tracking-uri/$KFORGE_TRACKING_URI/$MLFLOW_TRACKING_URI unset to use "
                f"the local store beside the runs. {later}")
    return f"Check that the store's path is writable and the URI is right (e.g. sqlite:///abs/path/mlflow.db). {later}"


def _safe_folder(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
