"""The runs table behind ``kforge runs``: one row per run folder, read from the folders themselves.

MLflow is optional here: the folders say everything, and when an MLflow store exists the MLflow run id
of each logged run is added (from its ``run.json``, else from the store's ``run_folder`` tag).

Example:
    >>> rows = list_runs("runs", sort="test_accuracy")          # doctest: +SKIP
    >>> print(format_plain(rows))                               # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KerasforgeError, did_you_mean
from ..runs import read_json
from .store import resolve_tracking_uri, store_exists

MAX_DEPTH = 3  # runs/<run>, runs/tune/<study>/<trial>
COLUMNS = ("name", "status", "dataset", "epochs", "started")
ASCENDING_HINTS = ("loss", "error", "mae", "mse")


@dataclass
class RunRow:
    """One run folder as the table shows it."""

    path: Path
    name: str
    status: str
    dataset: str
    epochs: int | None
    started: str
    metrics: dict[str, float] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    def value(self, key: str) -> Any:
        """A column's value (a metric name or one of :data:`COLUMNS`)."""
        return self.metrics.get(key) if key in self.metrics or key not in COLUMNS else getattr(self, key)


def list_runs(output_dir: str | Path = "runs", *, sort: str | None = None, descending: bool | None = None,
              limit: int | None = None, tracking_uri: str | None = None) -> list[RunRow]:
    """The run folders under ``output_dir``, newest first or sorted by a metric or column.

    ``descending`` defaults to ``True`` except for loss/error-like metrics; runs without the metric
    come last. With an MLflow store (``tracking_uri``, the environment, or ``<output_dir>/mlflow.db``)
    each row also gets its MLflow run id.

    >>> best = list_runs("runs", sort="test_accuracy", limit=1)   # doctest: +SKIP
    """
    root = Path(output_dir)
    if not root.is_dir():
        raise KerasforgeError(f"there is no runs folder {str(root)!r}", where=str(root),
                              fix="Train something first (`kforge train RECIPE`), or give the folder with --output.")
    rows = [_row(folder) for folder in _run_folders(root)]
    _add_mlflow_ids(rows, resolve_tracking_uri(tracking_uri, root))
    rows.sort(key=lambda r: r.started, reverse=True)
    if sort:
        rows = sort_rows(rows, sort, descending)
    return rows[:limit] if limit else rows


def sort_rows(rows: list[RunRow], key: str, descending: bool | None = None) -> list[RunRow]:
    """``rows`` sorted by ``key``; rows without a value last. An unknown key is a clear error."""
    known = set(COLUMNS) | {m for r in rows for m in r.metrics}
    if rows and key not in known:
        raise KerasforgeError(f"no run has a metric or column {key!r}.{did_you_mean(key, known)}", where="--sort",
                              fix=f"Sort by one of: {', '.join(sorted(known))}.")
    if descending is None:
        descending = not any(hint in key.lower() for hint in ASCENDING_HINTS)
    present = [r for r in rows if r.value(key) is not None]
    missing = [r for r in rows if r.value(key) is None]
    return sorted(present, key=lambda r: r.value(key), reverse=descending) + missing


def metric_columns(rows: list[RunRow], sort: str | None = None, most: int = 4) -> list[str]:
    """The metrics worth a column: the sort key first, then the most common ones (test metrics first)."""
    counts: dict[str, int] = {}
    for row in rows:
        for key in row.metrics:
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts, key=lambda k: (-counts[k], not k.startswith("test_"), k.endswith("_examples"), k))
    chosen = [sort] if sort in counts else []
    return chosen + [k for k in ranked if k not in chosen][: most - len(chosen)]


def table_cells(rows: list[RunRow], sort: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of the table (MLflow id column only when some run has one)."""
    metrics = metric_columns(rows, sort)
    with_ids = any(r.mlflow_run_id for r in rows)
    header = ["name", "status", "dataset", "epochs", *metrics, "started", *(["mlflow run"] if with_ids else []), "path"]
    body = []
    for r in rows:
        cells = [r.name, r.status, r.dataset, "" if r.epochs is None else str(r.epochs),
                 *(_fmt(r.metrics.get(m)) for m in metrics), r.started.replace("T", " ")]
        body.append(cells + ([r.mlflow_run_id or ""] if with_ids else []) + [str(r.path)])
    return header, body


def format_plain(rows: list[RunRow], sort: str | None = None) -> str:
    """The table as aligned plain text (for pipes and logs).

    >>> format_plain([])
    'no runs'
    """
    if not rows:
        return "no runs"
    header, body = table_cells(rows, sort)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in [header, *body])


# ---------------------------------------------------------------------------------------------------
def _run_folders(root: Path) -> list[Path]:
    found, level = [], [root]
    for _ in range(MAX_DEPTH):
        nxt = []
        for folder in level:
            for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
                (found if (child / "run.json").is_file() else nxt).append(child)
        level = nxt
    return found


def _row(folder: Path) -> RunRow:
    info = read_json(folder / "run.json", {}) or {}
    data = read_json(folder / "data.json", {}) or {}
    metrics = read_json(folder / "metrics.json", {}) or {}
    epochs = info.get("epochs_done")
    if epochs is None:
        epochs = len((read_json(folder / "history.json", {}) or {}).get("epoch", [])) or None
    from ..lifecycle import shown_status

    return RunRow(path=folder, name=folder.name, status=shown_status(folder, info),
                  dataset=str(data.get("dataset", "")), epochs=epochs, started=str(info.get("started", "")),
                  metrics={k: float(v) for k, v in metrics.items()
                           if isinstance(v, int | float) and not isinstance(v, bool)},
                  mlflow_run_id=info.get("mlflow_run_id"))


def _add_mlflow_ids(rows: list[RunRow], uri: str) -> None:
    """Fill in MLflow run ids from the store's ``run_folder`` tags (best effort, local stores only)."""
    missing = {str(r.path.resolve()): r for r in rows if not r.mlflow_run_id}
    if not missing or not uri.startswith("sqlite:") or not store_exists(uri):
        return
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        if experiments:
            for run in client.search_runs(experiments, max_results=5000):
                row = missing.get(run.data.tags.get("run_folder", ""))
                if row is not None:
                    row.mlflow_run_id = run.info.run_id
    except Exception:  # the folders are the truth; the ids are a bonus
        return


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if abs(value) < 1e5 and not float(value).is_integer() else f"{value:g}"
