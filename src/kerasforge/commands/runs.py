"""``kforge runs`` lists run folders, ``kforge track`` logs them to MLflow, ``kforge ui`` opens MLflow's UI.

Example:
    $ kforge runs --sort test_accuracy --limit 5
    $ kforge track runs/digits_mlp-20261123-101500 --tracking-uri http://127.0.0.1:5000
    $ kforge ui --port 5000
"""

from __future__ import annotations

import argparse
import sys

TRACKING_HELP = ("MLflow tracking URI (default: $KFORGE_TRACKING_URI, $MLFLOW_TRACKING_URI, "
                 "else sqlite:///<output>/mlflow.db)")


def register(command) -> None:
    """Add ``runs``, ``track`` and ``ui`` to ``kforge``."""
    p = command("runs", _runs, "list the runs in a runs folder: status, dataset, epochs, metrics, MLflow ids")
    p.add_argument("--output", default="runs", help="the runs folder (default: runs)")
    p.add_argument("--sort", metavar="METRIC", help="sort by a metric (e.g. test_accuracy) or a column")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--desc", dest="descending", action="store_true", default=None,
                       help="largest first (default, except for loss/error metrics)")
    order.add_argument("--asc", dest="descending", action="store_false", help="smallest first")
    p.add_argument("--limit", type=int, metavar="N", help="show at most N runs")
    p.add_argument("--tracking-uri", help=TRACKING_HELP)

    p = command("track", _track, "log finished run folders to MLflow (params, metrics, artifacts, tags)")
    p.add_argument("runs", nargs="*", help="run folders")
    p.add_argument("--tracking-uri", help=TRACKING_HELP.replace("<output>", "<the run's parent folder>"))
    p.add_argument("--experiment", help="MLflow experiment (default: the recipe name)")
    p.add_argument("--pending", action="store_true", help="also every run under --output whose logging failed "
                   "(queued by `kforge train`/`kforge tune` while the store was down)")
    p.add_argument("--output", default="runs", help="the runs folder for --pending (default: runs)")

    p = command("ui", _ui, "start MLflow's web UI over the runs folder's tracking store")
    p.add_argument("--output", default="runs", help="the runs folder (default: runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the UI has no login)")
    p.add_argument("--tracking-uri", help=TRACKING_HELP)


def _runs(args: argparse.Namespace) -> None:
    from ..tracking.listing import format_plain, list_runs, table_cells

    if args.limit is not None and args.limit < 1:
        from ..errors import KerasforgeError

        raise KerasforgeError(f"--limit must be at least 1, got {args.limit}", where="--limit",
                              fix="Give the number of runs to show, e.g. --limit 10.")
    rows = list_runs(args.output, sort=args.sort, descending=args.descending, limit=args.limit,
                     tracking_uri=args.tracking_uri)
    if not sys.stdout.isatty() or not rows:
        print(format_plain(rows, args.sort))
        return
    from rich.console import Console
    from rich.table import Table

    header, body = table_cells(rows, args.sort)
    table = Table(*header, title=f"runs in {args.output}")
    for cells in body:
        table.add_row(*cells)
    Console().print(table)


def _track(args: argparse.Namespace) -> None:
    from ..console import say
    from ..errors import KerasforgeError
    from ..lifecycle import finishing
    from ..tracking import log_run, pending_runs

    runs = list(args.runs) + ([str(p) for p in pending_runs(args.output)] if args.pending else [])
    if not runs:
        if args.pending:
            print(f"nothing queued in {args.output}")
            return
        raise KerasforgeError("no run folder given", where="kforge track",
                              fix="Name run folders (kforge track runs/NAME-DATE), or use --pending for every "
                                  "run whose logging failed.")
    for run in dict.fromkeys(runs):
        with finishing(run, say=say):
            run_id = log_run(run, tracking_uri=args.tracking_uri, experiment=args.experiment)
        print(f"{run}: mlflow run {run_id}")


def _ui(args: argparse.Namespace) -> None:
    from ..console import say
    from ..tracking.store import is_remote, resolve_tracking_uri, sqlite_path
    from ..tracking.ui import check_host, run_ui

    check_host(args.host, args.allow_remote)
    uri = resolve_tracking_uri(args.tracking_uri, args.output)
    if is_remote(uri):
        print(f"runs are tracked on a server with its own UI: open {uri}")
        return
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        say(f"  note: nothing tracked yet in {db} (an empty store is created)", style="yellow")
    say(f"[bold]kerasforge[/bold] MLflow UI on http://{args.host}:{args.port}  (store: {uri}; Ctrl-C stops it)")
    code = run_ui(uri, host=args.host, port=args.port)
    if code:
        sys.exit(code)
