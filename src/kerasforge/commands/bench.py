"""``kforge bench accuracy``: train recipes at full length, once per seed, and record what they reach.

For each recipe and seed it runs :func:`kerasforge.train` (the recipe's own epochs, ``seed`` set), then
prints a table, writes ``<output>/accuracy-<timestamp>.json`` with every run, and adds or updates the
recipe's row in the markdown table of ``<output>/RESULTS.md`` (``--results`` names another file, e.g. the
source tree's ``src/kerasforge/recipes/RESULTS.md``; never the installed package's by default): accuracy
mean ± std over the seeds, epochs, wall time, machine, backend, date and the command that reproduces it.

Example:
    $ kforge bench accuracy mnist_cnn --seeds 3
    $ kforge bench accuracy mnist_mlp mnist_cnn --seeds 1 --set data.subset=2000 --results none
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS_MD = Path(__file__).resolve().parents[1] / "recipes" / "RESULTS.md"  # recipe.BUILTIN_RECIPES
# Recipes that make one class rare (data.imbalance) are judged against the same data trained without any
# remedy: no class weights and the plain loss. Each seed trains both.
UNWEIGHTED = ["train.class_weight=null", "train.loss=sparse_categorical_crossentropy"]
START, END = "<!-- results:start -->", "<!-- results:end -->"
HEADER = ("| recipe | target | test accuracy (mean ± std) | seeds | epochs | wall time / seed | machine | backend "
          "| date | command |\n|---|---|---|---|---|---|---|---|---|---|")


def register(command) -> None:
    """Add ``bench accuracy`` to ``kforge``."""
    p = command("bench", _bench, "benchmarks: `kforge bench accuracy RECIPE...` trains recipes per seed")
    p.add_argument("what", choices=["accuracy"], help="what to measure")
    p.add_argument("recipes", nargs="*", help="recipes to run (default: every built-in recipe)")
    p.add_argument("--seeds", type=int, default=3, help="runs per recipe, seeds 0..N-1 (default 3)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe field in every run (repeatable)")
    p.add_argument("--output", default="benchmarks/results", help="folder for the JSON and the run folders")
    p.add_argument("--results", default=None,
                   help="markdown file whose table is updated (default: <output>/RESULTS.md; 'none' to leave "
                        "tables alone)")


def _bench(args: argparse.Namespace) -> None:
    from ..console import console
    from ..recipe import builtin_recipe_names

    names = args.recipes or builtin_recipe_names()
    command = "kforge bench accuracy " + " ".join(
        [*map(shlex.quote, args.recipes), f"--seeds {args.seeds}",
         *(f"--set {shlex.quote(o)}" for o in args.overrides)])
    rows = bench_accuracy(names, seeds=args.seeds, overrides=args.overrides, output=Path(args.output),
                          command=command)
    console().print(results_table(rows))
    target = results_path(args.results, Path(args.output))
    if target is not None:
        update_results_markdown(target, rows)
        print(f"updated: {target}")


def results_path(results: str | None, output: Path) -> Path | None:
    """The markdown file ``kforge bench`` updates: ``--results``, else ``<output>/RESULTS.md`` in the working
    folder (never the installed package's own file); None for ``--results none``.

    >>> results_path(None, Path("benchmarks/results")), results_path("none", Path("x"))
    (PosixPath('benchmarks/results/RESULTS.md'), None)
    """
    if results is None:
        return output / "RESULTS.md"
    return None if results.lower() == "none" else Path(results)


# ---------------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------------
def bench_accuracy(names: list[str], *, seeds: int = 3, overrides: list[str] | None = None,
                   output: Path = Path("benchmarks/results"), command: str = "") -> list[dict[str, Any]]:
    """Train each recipe once per seed (0..seeds-1); one summary row per recipe, also saved as JSON.

    >>> rows = bench_accuracy(["digits_mlp"], seeds=2, output=Path("/tmp/b"))   # doctest: +SKIP
    >>> rows[0]["accuracy_mean"] > 0.9                                             # doctest: +SKIP
    True
    """
    from ..pipeline import train
    from ..recipe import load_recipe

    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        runs = []
        imbalance = load_recipe(name, list(overrides or [])).data.imbalance
        for seed in range(seeds):
            start = time.perf_counter()
            run = train(name, overrides=[*(overrides or []), f"seed={seed}"], output_dir=output / "runs",
                        resume=False, show_summary=False)
            runs.append({"seed": seed, "path": str(run.path), "wall_s": time.perf_counter() - start,
                         "epochs": len(run.history.get("epoch", [])), "metrics": run.metrics})
            if imbalance is not None:
                baseline = train(name, overrides=[*(overrides or []), *UNWEIGHTED, f"seed={seed}"],
                                 output_dir=output / "runs", resume=False, show_summary=False)
                runs[-1].update(rare_class=imbalance.class_id, rare_recall=class_recall(run.path, imbalance.class_id),
                                unweighted_path=str(baseline.path),
                                unweighted_rare_recall=class_recall(baseline.path, imbalance.class_id))
        rows.append(summarize(name, runs, overrides or [], command or f"kforge bench accuracy {name} --seeds {seeds}"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (output / f"accuracy-{stamp}.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def summarize(name: str, runs: list[dict[str, Any]], overrides: list[str], command: str) -> dict[str, Any]:
    """The row of one recipe: accuracy mean and std over its runs, epochs, time, machine, backend, date."""
    accuracies = [main_accuracy(r["metrics"]) for r in runs]
    env = json.loads((Path(runs[0]["path"]) / "env.json").read_text(encoding="utf-8")) if runs else {}
    return {
        "recipe": name, "target": recipe_target(name), "seeds": len(runs),
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "epochs": statistics.fmean(r["epochs"] for r in runs),
        "wall_s": statistics.fmean(r["wall_s"] for r in runs),
        "machine": machine_name(env), "backend": env.get("backend", "?"), "date": time.strftime("%Y-%m-%d"),
        "overrides": overrides, "command": command, "runs": runs,
        **_rare_class_summary(runs),
        **_output_summary(runs),
    }


def main_accuracy(metrics: dict[str, Any]) -> float:
    """``test_accuracy``, or for a multi-output model its first output's (``test_<output>_accuracy``).

    >>> main_accuracy({"test_loss": 0.1, "test_digit_accuracy": 0.97, "test_parity_accuracy": 0.99})
    0.97
    """
    if "test_accuracy" in metrics:
        return metrics["test_accuracy"]
    return next(v for k, v in metrics.items() if k.startswith("test_") and k.endswith("_accuracy"))


def _output_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean test accuracy per output of a multi-output model (empty for one output)."""
    if not runs or "test_accuracy" in runs[0]["metrics"]:
        return {}
    keys = [k for k in runs[0]["metrics"] if k.startswith("test_") and k.endswith("_accuracy")]
    return {"output_accuracy_mean": {k[5:-9]: statistics.fmean(r["metrics"][k] for r in runs) for k in keys}}


def _rare_class_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean rare-class recall with the recipe's remedy and without (empty when the runs have none)."""
    if not runs or "rare_recall" not in runs[0]:
        return {}
    treated = statistics.fmean(r["rare_recall"] for r in runs)
    untreated = statistics.fmean(r["unweighted_rare_recall"] for r in runs)
    return {"rare_class": runs[0]["rare_class"], "rare_recall_mean": treated, "unweighted_rare_recall_mean": untreated,
            "rare_recall_ratio": treated / untreated if untreated else float("inf")}


def class_recall(run_path: Path | str, class_id: int) -> float:
    """Test recall of class number ``class_id``, from a run's ``evaluation.json``.

    >>> class_recall("runs/imbalanced-20261124-010000", 3)   # doctest: +SKIP
    0.62
    """
    evaluation = json.loads((Path(run_path) / "evaluation.json").read_text(encoding="utf-8"))
    name = evaluation["class_names"][class_id]
    return float(evaluation["classification_report"]["per_class"][name]["recall"])


def recipe_target(name: str) -> str:
    """The target a recipe states in its description (``target >= 98.0%``), or '' when it states none.

    >>> recipe_target("mnist_cnn")
    '≥ 99.0%'
    """
    from ..recipe import load_recipe

    try:
        recipe = load_recipe(name)
    except Exception:  # a recipe that cannot load has no target to show; the run will say why
        return ""
    if recipe.data.imbalance is not None:
        return "rare-class recall ≥ 2× unweighted"
    description = recipe.description or ""
    found = re.search(r"target\s*>=\s*([\d.]+%)", description)
    return f"≥ {found.group(1)}" if found else ""


def machine_name(env: dict[str, Any]) -> str:
    """``16 CPUs`` or ``16 CPUs + NVIDIA H100 80GB HBM3`` from a run's env.json (and nvidia-smi)."""
    text = f"{env.get('cpu_count', '?')} CPUs"
    if any("gpu" in str(d).lower() or "cuda" in str(d).lower() for d in env.get("devices", [])):
        try:
            gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=10, check=True).stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            gpu = "GPU"
        text += f" + {gpu}"
    return text


# ---------------------------------------------------------------------------------------------------
# showing and recording
# ---------------------------------------------------------------------------------------------------
def results_table(rows: list[dict[str, Any]]):
    """A rich table of the summary rows."""
    from rich.table import Table

    table = Table("recipe", "target", "test accuracy", "seeds", "epochs", "time / seed", "machine", "backend")
    for row in rows:
        table.add_row(row["recipe"], row["target"], _accuracy(row), str(row["seeds"]), f"{row['epochs']:.1f}",
                      _duration(row["wall_s"]), row["machine"], row["backend"])
    return table


def markdown_row(row: dict[str, Any]) -> str:
    """One line of the RESULTS.md table."""
    cells = [row["recipe"], row["target"], _accuracy(row), str(row["seeds"]), f"{row['epochs']:.1f}",
             _duration(row["wall_s"]), row["machine"], row["backend"], row["date"], f"`{row['command']}`"]
    return "| " + " | ".join(cells) + " |"


def update_results_markdown(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace (or add) each recipe's row in the table between the results markers of ``path``.

    >>> update_results_markdown(Path("recipes/RESULTS.md"), rows)   # doctest: +SKIP
    """
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n{START}\n{HEADER}\n{END}\n"
    head, rest = text.split(START, 1)
    body, tail = rest.split(END, 1)
    lines = [line for line in body.strip().splitlines() if line.strip()]
    table_head, table = lines[:2] or HEADER.splitlines(), lines[2:]
    for row in rows:
        new = markdown_row(row)
        at = next((i for i, line in enumerate(table) if line.startswith(f"| {row['recipe']} |")), None)
        if at is None:
            table.append(new)
        else:
            table[at] = new
    path.write_text(head + START + "\n" + "\n".join([*table_head, *table]) + "\n" + END + tail, encoding="utf-8")


def _accuracy(row: dict[str, Any]) -> str:
    text = f"{100 * row['accuracy_mean']:.2f}% ± {100 * row['accuracy_std']:.2f}"
    if "rare_recall_mean" in row:
        text += (f"; class {row['rare_class']} recall {row['rare_recall_mean']:.3f} vs {row['unweighted_rare_recall_mean']:.3f}"
                 f" unweighted = {row['rare_recall_ratio']:.1f}×")
    return text


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
