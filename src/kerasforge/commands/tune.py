"""``kforge tune``: hyperparameter search over a recipe's ``search:`` section.

Example:
    $ kforge tune my_tune.yaml --sampler tpe --trials 20 --workers 2
    $ kforge tune my_tune.yaml --sampler grid --storage postgresql://me@db/studies --study cnn-grid
"""

from __future__ import annotations

import argparse

SAMPLERS = ("grid", "random", "tpe", "gp")


def register(command) -> None:
    """Add ``kforge tune`` to the command line."""
    p = command("tune", _tune, "search hyperparameters: the recipe's search: section, on Optuna")
    p.add_argument("recipe", help="a recipe with a search: section (file or built-in name)")
    p.add_argument("--sampler", choices=SAMPLERS, help="default: the recipe's search.sampler (tpe)")
    p.add_argument("--trials", type=int, help="finished trials to reach (default: search.trials; a grid: all)")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the study (default 1)")
    p.add_argument("--timeout", type=float, help="seconds after which no new trial starts")
    p.add_argument("--storage", help="SQLAlchemy URL of the study database "
                   "(default: sqlite:///<output>/tune/<study>.db)")
    p.add_argument("--study", help="study name (default: the recipe's name); the same name continues it")
    p.add_argument("--output", default="runs", help="output folder (default: runs)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe field, e.g. --set train.epochs=3 (repeatable)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $KFORGE_TRACKING_URI, "
                   "$MLFLOW_TRACKING_URI, else <output>/mlflow.db); each trial is a child run of the study")
    p.add_argument("--no-track", action="store_true", help="do not log the study and its trials to MLflow")
    p.add_argument("--devices", metavar="all|N", help="train every trial data-parallel over all local devices "
                   "or N of them, as `kforge train --devices` (JAX)")


def _tune(args: argparse.Namespace) -> None:
    from ..tune import tune

    result = tune(args.recipe, sampler=args.sampler, trials=args.trials, workers=args.workers,
                  timeout=args.timeout, storage=args.storage, study=args.study, output_dir=args.output,
                  overrides=args.overrides, tracking_uri=args.tracking_uri,
                  track=not args.no_track, devices=args.devices)
    print(f"study: {result.study_name} ({result.storage})")
    print("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.counts.items())))
    if result.best_recipe_path:
        print(f"best: trial {result.best_trial.number}, value {result.best_value:.4f}")
        print(f"best recipe: {result.best_recipe_path}")
    if result.report_path:
        print(f"report: {result.report_path}")
