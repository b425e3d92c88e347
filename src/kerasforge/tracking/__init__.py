"""Experiment tracking with MLflow: every run folder can be logged as an MLflow run.

The default store is embedded beside the runs (``runs/mlflow.db``, artifacts in ``runs/mlartifacts``);
``--tracking-uri http://host:5000`` or ``$KFORGE_TRACKING_URI`` / ``$MLFLOW_TRACKING_URI`` point at a
team's MLflow server. MLflow is imported only when something is logged or read.

Example:
    >>> from kerasforge.tracking import log_run, list_runs
    >>> run_id = log_run("runs/digits_mlp-20261123-101500")   # doctest: +SKIP
    >>> list_runs("runs", sort="test_accuracy")[0].name       # doctest: +SKIP
    'digits_mlp-20261123-101500'
"""

from __future__ import annotations

from .listing import RunRow, format_plain, list_runs
from .log import end_run, log_run, pending_runs, queue_run, start_parent_run
from .store import TrackingError, resolve_tracking_uri

__all__ = ["RunRow", "TrackingError", "end_run", "format_plain", "list_runs", "log_run", "pending_runs",
           "queue_run", "resolve_tracking_uri", "start_parent_run"]
