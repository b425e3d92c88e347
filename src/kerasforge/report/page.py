"""The run report page: every section of ``report.html`` from a run folder plus the evaluation.

Example:
    >>> html_text = render_run_page(run_dir, evaluation=ev, findings=[], images={}, model_summary="")  # doctest: +SKIP
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..runs import read_json
from .html import findings_html, image, key_figures, page, preformatted, section, table
from .outputs import outputs_section

NAV = [("diagnosis", "Diagnosis"), ("metrics", "Metrics"), ("outputs", "Outputs"), ("curves", "Curves"),
       ("classes", "Classes"),
       ("examples", "Examples"), ("data", "Data"), ("model", "Model"), ("recipe", "Recipe"),
       ("timings", "Timings"), ("environment", "Environment")]


def render_run_page(run_dir: Path, *, evaluation: dict[str, Any], findings: list[dict[str, str]],
                    images: dict[str, Path], model_summary: str, texts: dict[int, str] | None = None) -> str:
    """The whole ``report.html`` of a run folder."""
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json", {}) or {}
    metrics = read_json(run_dir / "metrics.json", {}) or {}
    data = read_json(run_dir / "data.json", {}) or {}
    env = read_json(run_dir / "env.json", {}) or {}
    history = read_json(run_dir / "history.json", {}) or {}
    recipe_text = (run_dir / "recipe.yaml").read_text(encoding="utf-8") if (run_dir / "recipe.yaml").is_file() else ""
    name = info.get("name", run_dir.name)
    subtitle = (f"{run_dir.name} · status {info.get('status', '?')} · {data.get('dataset', '?')} · "
                f"finished {info.get('finished', '—')}")
    sections = [
        section("summary", "Summary", key_figures(_key_figures(metrics, evaluation, history, info))),
        section("diagnosis", "Diagnosis", findings_html(findings)),
        section("metrics", "Metrics", _metrics_table(metrics, evaluation)),
        outputs_section(evaluation, images),  # a multi-output model: one part per output
        section("curves", "Training curves", image(images.get("curves"), "training curves")
                + _lr_note(history)),
        _classes(evaluation, images),
        _examples(evaluation, images, texts or {}),
        section("data", "Data", _data_table(data)),
        section("model", "Model", preformatted(model_summary or "(no summary: the model is not built)")),
        section("recipe", "Recipe (resolved)", preformatted(recipe_text)),
        section("timings", "Timings and run record", _flat_table(info)),
        section("environment", "Environment", _flat_table(env)),
    ]
    nav = [item for item in NAV if item[0] != "outputs" or evaluation.get("outputs")]
    return page(f"kerasforge report: {name}", sections, subtitle=subtitle, nav=nav)


def _key_figures(metrics: dict, evaluation: dict, history: dict, info: dict) -> list[tuple[str, Any]]:
    figures: list[tuple[str, Any]] = [(k.replace("_", " "), v) for k, v in metrics.items()
                                      if isinstance(v, float) and ("accuracy" in k or k.endswith("_loss"))][:4]
    if evaluation.get("roc"):
        figures.append(("ROC AUC", evaluation["roc"]["auc"]))
    figures.append(("epochs", len(history.get("epoch", []))))
    fit_s = (info.get("timings") or {}).get("fit_s")
    if isinstance(fit_s, int | float):
        figures.append(("training time", f"{fit_s:.1f} s"))
    return figures


def _metrics_table(metrics: dict, evaluation: dict) -> str:
    rows = [[k, v] for k, v in metrics.items()]
    for k, v in (evaluation.get("top_k_accuracy") or {}).items():
        rows.append([f"{evaluation.get('split', 'test')}_{k}", v])
    if evaluation.get("roc"):
        rows.append(["roc_auc", evaluation["roc"]["auc"]])
    for key in ("mae", "rmse", "r2"):
        if key in evaluation:
            rows.append([key, evaluation[key]])
    for avg in ("macro_avg", "weighted_avg"):
        values = (evaluation.get("classification_report") or {}).get(avg)
        if values:
            rows.append([f"{avg.replace('_', ' ')} F1", values["f1-score"]])
    note = ""
    if evaluation.get("sampled"):
        note = (f"<p>Evaluation details use {evaluation['examples']:,} of the {evaluation['split_examples']:,} "
                "examples (a seeded random sample).</p>")
    return table(["metric", "value"], rows) + note


def _lr_note(history: dict) -> str:
    lr = [v for v in history.get("learning_rate", []) if v is not None]
    if len(set(lr)) > 1:
        return f"<p>Learning rate changed from {lr[0]:.2e} to {lr[-1]:.2e} (dotted lines).</p>"
    return ""


def _classes(evaluation: dict, images: dict) -> str:
    report = (evaluation.get("classification_report") or {}).get("per_class")
    if not report:
        return ""
    acc = evaluation.get("per_class_accuracy", {})
    rows = [[name, r["precision"], r["recall"], r["f1-score"], r["support"], acc.get(name)]
            for name, r in report.items()]
    body = ('<div class="grid"><div>' + image(images.get("confusion"), "confusion matrix") + "</div><div>"
            + table(["class", "precision", "recall", "F1", "support", "accuracy"], rows)
            + image(images.get("roc"), "ROC curve") + "</div></div>")
    return section("classes", "Classes: confusion matrix and report", body)


def _examples(evaluation: dict, images: dict, texts: dict[int, str]) -> str:
    grids = image(images.get("predictions"), "predictions") + image(images.get("top_losses"), "top losses")
    rows = [[str(r["index"]), r["true"], r["predicted"], r.get("probability"), r["loss"]]
            + ([texts.get(r["index"], "")] if texts else []) for r in evaluation.get("top_losses", [])]
    headers = ["index", "true", "predicted", "probability", "loss"] + (["text"] if texts else [])
    left_out = f"<p>Left out: {html.escape(evaluation['left_out'])}.</p>" if evaluation.get("left_out") else ""
    return section("examples", "Examples: predictions and top losses",
                   f'{left_out}<div class="grid">{grids}</div><h3>Highest losses</h3>' + table(headers, rows))


def _data_table(data: dict) -> str:
    sizes = data.get("sizes") or {}
    rows = [["dataset", data.get("dataset")], ["source", data.get("source")], ["task", data.get("task")],
            ["kind", data.get("kind")], ["classes", ", ".join(map(str, data.get("class_names") or []))],
            ["input shape", data.get("input_shape")], ["model input shape", data.get("model_input_shape")],
            ["label encoding", data.get("label_encoding")], ["preprocessing", data.get("preprocessing")]]
    rows += [[f"{split} examples", n] for split, n in sizes.items()]
    rows += [["note", note] for note in data.get("notes") or []]
    return table(["", ""], rows)


def _flat_table(data: dict) -> str:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(not isinstance(v, dict | list) for v in value.values()):
            rows += [[f"{key}.{k}", v] for k, v in value.items()]
        else:
            rows.append([key, value])
    return table(["", ""], rows)
