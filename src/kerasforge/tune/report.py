"""What a search shows: the trials table, the best recipe as YAML, and a self-contained HTML report.

The report embeds Optuna's matplotlib plots (optimisation history, parameter importances, parallel
coordinates) as PNG, so it is one file you can send.

Example:
    >>> write_report(space, study, Path("runs/tune/digits.html"), result)   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..console import console
from .study import SURPLUS


def trial_rows(study: Any, space: Any) -> list[dict[str, Any]]:
    """One row per trial (surplus trials left out): number, state, params, objective, duration, run."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(SURPLUS):
            continue
        duration = t.duration.total_seconds() if t.duration else None
        rows.append({"number": t.number, "state": t.state.name, "params": space.recipe_values(t.params),
                     "value": t.value, "duration_s": duration, "run_dir": t.user_attrs.get("run_dir"),
                     "error": t.user_attrs.get("kforge_error"),
                     "epochs": t.user_attrs.get("epochs_done")})
    return rows


def print_table(study: Any, space: Any) -> None:
    """The trials as a rich table on the console."""
    from rich.table import Table

    metric = space.search.objective.metric
    paths = list(space.search.params)
    table = Table("#", "state", *paths, metric, "epochs", "time", title=f"study {study.study_name}")
    best = _best_number(study)
    for row in trial_rows(study, space):
        style = "bold green" if row["number"] == best else ("dim" if row["state"] != "COMPLETE" else None)
        table.add_row(str(row["number"]), row["state"], *(_fmt(row["params"].get(p)) for p in paths),
                      _fmt(row["value"]), _fmt(row["epochs"]),
                      f"{row['duration_s']:.1f}s" if row["duration_s"] is not None else "", style=style)
    console().print(table)


def write_best_recipe(space: Any, study: Any, trial: Any, path: Path) -> Path:
    """The best trial's recipe, ready to train: ``search`` removed, values applied, where it came from."""
    values = space.recipe_values(trial.params)
    data = space.trial_recipe(values)
    data = {"name": f"{space.name}-tuned", **{k: v for k, v in data.items() if k != "name"}}
    objective = space.search.objective
    finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))
    header = [
        f"Best recipe of the kforge tune study '{study.study_name}' "
        f"(sampler {study.user_attrs.get('kforge_sampler', '?')}, {finished} finished trials).",
        f"Trial {trial.number}: {objective.metric} ({objective.epoch} epoch) = {trial.value:.6g}.",
        f"Tuned from {space.source or space.name} on {time.strftime('%Y-%m-%d %H:%M')}; values found:",
        *(f"  {p}: {v!r}" for p, v in values.items()),
        f"Train it with: kforge train {path}",
    ]
    text = "".join(f"# {line}\n" for line in header)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def plots(study: Any, space: Any) -> dict[str, str]:
    """Optuna's matplotlib plots of the study as base64 PNG (those the study has enough trials for)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    wanted = {"optimisation history": ovm.plot_optimization_history}
    if len(space.search.params) >= 2 and len(complete) >= 3:
        wanted["parameter importances"] = ovm.plot_param_importances
    if complete:
        wanted["parallel coordinates"] = ovm.plot_parallel_coordinate
    images = {}
    for title, plot in wanted.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study, target_name=space.search.objective.metric)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.set_size_inches(8, 4.5)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=90)
            plt.close(figure)
            images[title] = base64.b64encode(buffer.getvalue()).decode("ascii")
        except Exception as exc:  # a plot that cannot be drawn (e.g. all values equal) is left out
            images[title] = f"error: {type(exc).__name__}: {exc}"
    return images


def write_report(space: Any, study: Any, path: Path, result: Any) -> Path:
    """A self-contained HTML page: summary, best recipe, trials table and plots."""
    objective = space.search.objective
    rows = trial_rows(study, space)
    paths = list(space.search.params)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["#", "state", *paths, objective.metric, "epochs",
                                                          "time (s)", "run folder"])
    body = []
    best = _best_number(study)
    for row in rows:
        cells = [row["number"], row["state"], *(_fmt(row["params"].get(p)) for p in paths), _fmt(row["value"]),
                 _fmt(row["epochs"]), _fmt(row["duration_s"]), row["run_dir"] or row["error"] or ""]
        cls = ' class="best"' if row["number"] == best else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    figures = []
    for title, data in plots(study, space).items():
        if data.startswith("error:"):
            figures.append(f"<h3>{html.escape(title)}</h3><p class=note>{html.escape(data)}</p>")
        else:
            figures.append(f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" '
                           f'src="data:image/png;base64,{data}">')
    best_yaml = (result.best_recipe_path.read_text(encoding="utf-8") if result.best_recipe_path
                 else "no trial has completed yet")
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.counts.items()))
    summary = (f"<p>Recipe <b>{html.escape(space.name)}</b>, sampler <b>{html.escape(str(study.user_attrs.get('kforge_sampler')))}"
               f"</b>, objective <b>{html.escape(objective.metric)}</b> ({objective.epoch} epoch, "
               f"{study.direction.name.lower()}). Trials: {html.escape(counts or 'none')}.</p>")
    if result.best_trial is not None:
        summary += (f"<p>Best: trial {result.best_trial.number}, {html.escape(objective.metric)} = "
                    f"{result.best_value:.4f}.</p>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kforge tune: {html.escape(study.study_name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:90%}}tr.best{{background:#dfd}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}img{{max-width:100%}}.note{{color:#888}}</style></head>
<body><h1>Tuning study {html.escape(study.study_name)}</h1>{summary}
<h2>Trials</h2><table><tr>{head}</tr>{''.join(body)}</table>
<h2>Plots</h2>{''.join(figures)}
<h2>Best recipe</h2><pre>{html.escape(best_yaml)}</pre>
<p class=note>Made by kforge tune on {time.strftime('%Y-%m-%d %H:%M')}.</p></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _best_number(study: Any) -> int | None:
    try:
        return study.best_trial.number
    except ValueError:
        return None


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
