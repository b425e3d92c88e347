"""The report of a multi-output model: one evaluation section, confusion matrix and table per output.

Example:
    >>> evaluation, predictions, picked, plots = evaluate_every_output(run_dir / "plots", inputs)  # doctest: +SKIP
    >>> sorted(evaluation["outputs"])                                                           # doctest: +SKIP
    ['digit', 'parity']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import plots
from .html import image, section, table


def evaluate_every_output(folder: Path, inputs: Any) -> tuple[dict, np.ndarray, np.ndarray, dict[str, Path]]:
    """Evaluate each output of ``inputs.model``; returns the main output's evaluation with an ``outputs``
    section per output name, the main output's predictions, the rows used and a confusion plot per
    classification output (``confusion_<output>``)."""
    from ..evaluate.outputs import evaluate_outputs

    heads = inputs.outputs
    sections, predictions, picked = evaluate_outputs(
        inputs.model, inputs.x, heads.labels, tasks=heads.tasks, class_names=heads.class_names,
        batch_size=inputs.batch_size, seed=inputs.seed, top_losses=18)
    evaluation = {**sections[heads.main], "outputs": sections, "main_output": heads.main}
    images = {}
    for name, part in sections.items():
        if part.get("task") != "regression":
            images[f"confusion_{name}"] = plots.confusion_heatmap(part, folder / f"confusion_matrix_{name}.png")
    return evaluation, predictions[heads.main], picked, images


def outputs_section(evaluation: dict, images: dict) -> str:
    """The report's "Outputs" section: per output its task, figures, confusion matrix and classes ('' for
    a one-output model)."""
    parts = evaluation.get("outputs")
    if not parts:
        return ""
    body = [table(["output", "task", "examples", "figure", "value"],
                  [[name, p.get("task"), p.get("examples"), *_figure(p)] for name, p in parts.items()])]
    for name, part in parts.items():
        body.append(f"<h3>{_escape(name)} ({_escape(part.get('task', ''))})</h3>")
        if part.get("task") == "regression":
            body.append(table(["metric", "value"], [[k, part.get(k)] for k in ("mae", "mse", "rmse", "r2")]))
            continue
        per_class = (part.get("classification_report") or {}).get("per_class") or {}
        rows = [[c, r["precision"], r["recall"], r["f1-score"], r["support"]] for c, r in per_class.items()]
        figures = [["accuracy", part.get("accuracy")]] + ([["ROC AUC", part["roc"]["auc"]]] if part.get("roc") else [])
        body.append('<div class="grid"><div>' + image(images.get(f"confusion_{name}"), f"confusion matrix of {name}")
                    + "</div><div>" + table(["metric", "value"], figures)
                    + table(["class", "precision", "recall", "F1", "support"], rows) + "</div></div>")
    return section("outputs", "Outputs: every output of the model", "".join(body))


def _figure(part: dict) -> list:
    return ["MAE", part.get("mae")] if part.get("task") == "regression" else ["accuracy", part.get("accuracy")]


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))
