"""A comparison page for several runs: metrics side by side, overlaid curves, recipe differences.

Example:
    >>> compare_runs(["runs/a-20261123-101500", "runs/b-20261123-102000"],
    ...              output="runs/compare.html")                                   # doctest: +SKIP
    PosixPath('runs/compare.html')
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import KerasforgeError
from ..runs import read_json
from . import plots
from .html import image, page, section, table

CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")
MISSING = "—"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as dotted paths.

    >>> flatten({"train": {"epochs": 3, "callbacks": [{"type": "EarlyStopping"}]}})
    {'train.epochs': 3, 'train.callbacks[0].type': 'EarlyStopping'}
    """
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) and data:
        out = {}
        for i, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{i}]"))
        return out
    return {prefix: data}


def recipe_differences(recipes: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Every dotted path whose value differs between the recipes, with each recipe's value.

    >>> recipe_differences([{"train": {"epochs": 3}, "seed": 1}, {"train": {"epochs": 5}, "seed": 1}])
    [('train.epochs', [3, 5])]
    """
    flat = [flatten(r) for r in recipes]
    paths = sorted(set().union(*flat)) if flat else []
    rows = []
    for path in paths:
        values = [f.get(path, MISSING) for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append((path, values))
    return rows


def _label(run_dir: Path, taken: set[str]) -> str:
    label = run_dir.name
    n = 2
    while label in taken:
        label, n = f"{run_dir.name} ({n})", n + 1
    taken.add(label)
    return label


def compare_runs(paths: Sequence[str | Path], *, output: str | Path | None = None) -> Path:
    """Write the comparison page for the run folders ``paths`` to ``output``
    (default ``runs/compare-<timestamp>.html``) and return its path."""
    if len(paths) < 2:
        raise KerasforgeError(f"comparing needs at least two run folders, got {len(paths)}", where="compare",
                              fix="Name two or more run folders, e.g. `kforge compare runs/a-... runs/b-...`.")
    runs = []
    taken: set[str] = set()
    for p in map(Path, paths):
        if not (p / "run.json").is_file():
            raise KerasforgeError(f"{p} is not a kerasforge run folder (it has no run.json)", where=str(p),
                                  fix="Give folders under runs/ made by `kforge train`.")
        recipe_file = p / "recipe.yaml"
        recipe = yaml.safe_load(recipe_file.read_text(encoding="utf-8")) if recipe_file.is_file() else {}
        runs.append({"label": _label(p, taken), "path": p, "metrics": read_json(p / "metrics.json", {}) or {},
                     "history": read_json(p / "history.json", {}) or {}, "info": read_json(p / "run.json", {}) or {},
                     "recipe": recipe or {}, "evaluation": read_json(p / "evaluation.json", {}) or {},
                     "diagnosis": read_json(p / "diagnosis.json", {}) or {}})
    output = Path(output) if output else Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    labels = [r["label"] for r in runs]
    metric_names = sorted({k for r in runs for k in r["metrics"]})
    metric_rows = [[name] + [r["metrics"].get(name, MISSING) for r in runs] for name in metric_names]
    metric_rows.append(["epochs"] + [len(r["history"].get("epoch", [])) for r in runs])
    metric_rows.append(["fit seconds"] + [(r["info"].get("timings") or {}).get("fit_s", MISSING) for r in runs])
    metric_rows.append(["status"] + [r["info"].get("status", MISSING) for r in runs])
    metric_rows.append(["diagnosis"] + [", ".join(f["code"] for f in r["diagnosis"].get("findings", [])) or "none"
                                        for r in runs])
    diffs = recipe_differences([r["recipe"] for r in runs])
    with tempfile.TemporaryDirectory() as tmp:
        curves = plots.overlaid_curves({r["label"]: r["history"] for r in runs}, CURVE_KEYS,
                                       Path(tmp) / "curves.png")
        curves_html = image(curves, "overlaid training curves")
    sections = [
        section("runs", "Runs", table(["run", "folder"], [[r["label"], str(r["path"])] for r in runs])),
        section("metrics", "Metrics", table(["metric", *labels], metric_rows)),
        section("curves", "Training curves", curves_html),
        section("recipe-differences", "Recipe differences",
                table(["path", *labels], [[path, *values] for path, values in diffs]) if diffs
                else "<p>The recipes are identical.</p>"),
    ]
    output.write_text(page(f"kerasforge comparison of {len(runs)} runs", sections,
                           subtitle=time.strftime("%Y-%m-%d %H:%M:%S"),
                           nav=[("metrics", "Metrics"), ("curves", "Curves"), ("recipe-differences", "Recipe")]),
                      encoding="utf-8")
    return output
