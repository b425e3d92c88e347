"""``kforge``: the command line, a thin layer over the Python API.

Errors the user can fix are printed as one paragraph with exit code 2 (``--debug`` shows the
traceback); unexpected errors keep their traceback and exit with code 1.

Example:
    $ kforge train fashion_mnist_cnn --set train.epochs=3
    $ kforge check my_recipe.yaml
    $ kforge predict runs/fashion_mnist_cnn-20261123-101500 shoe.png
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable

from . import __version__
from .console import console, say, set_quiet
from .errors import KerasforgeError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kforge`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    set_quiet(bool(getattr(args, "quiet", False)))
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `kforge train` over several processes reruns it
    from .trust import trusting

    try:
        with trusting(bool(getattr(args, "trust_code", False))):
            args.handler(args)
        return 0
    except KerasforgeError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"kforge: {exc.kind}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kforge: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kforge", description="kerasforge: train, evaluate and save Keras "
                                     "models from one YAML recipe.")
    parser.add_argument("--version", action="version", version=f"kerasforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show the traceback of errors")
        p.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
        p.set_defaults(handler=handler)
        return p

    p = command("train", _train, "train, evaluate and save the model a recipe describes")
    p.add_argument("recipe", help="a recipe YAML file or the name of a built-in recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe field, e.g. --set train.epochs=3 (repeatable)")
    p.add_argument("--output", help="folder for run folders (default: the recipe's output.dir, 'runs')")
    p.add_argument("--new", action="store_true", help="start afresh even if an interrupted run can be resumed")
    p.add_argument("--no-rehearsal", action="store_true", help="skip the rehearsal before the first epoch (one "
                   "step, evaluation, prediction and save/reload on a few examples; train.rehearsal: false)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $KFORGE_TRACKING_URI, "
                   "$MLFLOW_TRACKING_URI, else sqlite:///<output>/mlflow.db)")
    p.add_argument("--no-track", action="store_true", help="do not log this run to MLflow")
    p.add_argument("--wait", action="store_true", help="make the report and the MLflow record before returning "
                   "(default, unless $KFORGE_WAIT=1: in a background process once the model is saved; "
                   "run.json's parts say when)")
    scale = p.add_argument_group("scale out (JAX backend; see docs/multi-node.md)")
    scale.add_argument("--devices", metavar="all|N", help="train data-parallel over all local devices or N of "
                       "them, each batch split across them (on a CPU: XLA_FLAGS="
                       "--xla_force_host_platform_device_count=N)")
    scale.add_argument("--num-processes", type=int, metavar="N", help="join a run of N processes (one per "
                       "machine or GPU group; default $KFORGE_NUM_PROCESSES, else 1)")
    scale.add_argument("--process-id", type=int, metavar="I", help="this process's id, 0 to N-1; 0 writes the "
                       "run folder (default $KFORGE_PROCESS_ID)")
    scale.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address and a free port, the "
                       "same on every process (default $KFORGE_COORDINATOR)")

    p = command("check", _check, "validate a recipe (and every name in it) without training")
    p.add_argument("recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    p.add_argument("--data", action="store_true", help="also load the data and rehearse: one training step, one "
                   "evaluation, a prediction and a save/reload round trip on a few real examples (seconds)")

    p = command("predict", _predict, "print the top classes for images, .npy arrays or text files")
    p.add_argument("model", help="a run folder or a saved model file (.keras, .h5)")
    p.add_argument("files", nargs="+")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    add_trust_code(p)

    command("recipes", _recipes, "list the built-in recipes")
    for module in _command_modules():
        module.register(command)
    return parser


def add_trust_code(p: argparse.ArgumentParser) -> None:
    """``--trust-code``: let a run folder's recipe import its ``module:Name`` code (see kerasforge.trust)."""
    p.add_argument("--trust-code", action="store_true",
                   help="allow importing the code a run folder's recipe names (module:Name), e.g. a custom "
                        "model; only for run folders you trust")


def _command_modules() -> list:
    """Every module of :mod:`kerasforge.commands` adds its own subcommands through ``register(command)``,
    where ``command(name, handler, help) -> argparse.ArgumentParser`` (``--debug``/``--quiet`` included)."""
    import importlib
    import pkgutil

    from . import commands

    return [importlib.import_module(f"{commands.__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name)]


def _train(args: argparse.Namespace) -> None:
    from .supervise import supervise_if_needed

    code = supervise_if_needed(args.argv, args.devices, args.num_processes, args.process_id, args.coordinator)
    if code is not None:  # a multi-process run, trained by a supervised child (see kerasforge.supervise)
        raise SystemExit(code)
    from .pipeline import train

    overrides = [*args.overrides, *(["train.rehearsal=false"] if args.no_rehearsal else [])]
    run = train(args.recipe, overrides=overrides, output_dir=args.output,
                resume=False if args.new else None, tracking_uri=args.tracking_uri, track=not args.no_track,
                devices=args.devices, num_processes=args.num_processes, process_id=args.process_id,
                coordinator=args.coordinator,
                background=not (args.wait or os.environ.get("KFORGE_WAIT", "") not in ("", "0")))
    if run.path is None:  # a non-chief process of a multi-process run
        print(f"process {run.info.get('process_index')}: trained; process 0 writes the run folder")
        return
    print(f"run: {run.path}")
    for key, value in run.metrics.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


def _check(args: argparse.Namespace) -> None:
    from .checks import check_recipe

    summary = check_recipe(args.recipe, overrides=args.overrides, data=args.data)
    print(f"ok: {summary}")


def _predict(args: argparse.Namespace) -> None:
    from .predict import predict

    if args.top < 1:
        raise KerasforgeError(f"--top must be at least 1, got {args.top}", where="--top",
                              fix="e.g. --top 3 for the three most likely classes.")
    for row in predict(args.model, args.files, top_k=args.top):
        shown = ", ".join(f"{name} {prob:.3f}" for name, prob in row["top"])
        if row.get("outputs"):  # a multi-output model: every output by name
            from .evaluate.outputs import format_outputs

            shown = format_outputs(row["outputs"])
        print(f"{row['file']}: {shown}")


def _recipes(args: argparse.Namespace) -> None:
    from rich.table import Table

    from .recipe import builtin_recipe_names, load_recipe

    table = Table("recipe", "dataset", "model", "epochs", "description")
    for name in builtin_recipe_names():
        recipe = load_recipe(name)
        table.add_row(name, recipe.data.dataset, recipe.model.kind, str(recipe.train.epochs),
                      recipe.description or "")
    console().print(table) if sys.stdout.isatty() else _plain_table(table)


def _plain_table(table) -> None:
    from rich.console import Console

    Console(file=sys.stdout, width=int(os.environ.get("COLUMNS", 160))).print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["main", "say"]
