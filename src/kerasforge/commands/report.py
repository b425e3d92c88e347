"""``kforge report RUN`` rebuilds a run's evaluation, plots and report.html; ``kforge compare RUN RUN...``
writes a comparison page.

Example:
    $ kforge report runs/fashion_mnist_cnn-20261123-101500
    $ kforge compare runs/a-20261123-101500 runs/b-20261123-102000 --output compare.html
"""

from __future__ import annotations

import argparse


def register(command) -> None:
    """Add ``report`` and ``compare`` to ``kforge``."""
    p = command("report", _report, "rebuild the evaluation, plots, diagnosis and report.html of a run folder")
    from ..cli import add_trust_code

    add_trust_code(p)
    p.add_argument("run", nargs="+", help="one or more run folders")
    p = command("compare", _compare, "write an HTML page comparing runs: metrics, curves, recipe differences")
    p.add_argument("runs", nargs="+", help="two or more run folders")
    p.add_argument("--output", help="where to write the page (default: runs/compare-<timestamp>.html)")


def _report(args: argparse.Namespace) -> None:
    import json

    from ..console import say
    from ..lifecycle import finishing
    from ..report import report_run

    for run in args.run:
        say(f"[bold]kerasforge[/bold] report: {run}")
        with finishing(run, say=say):
            path = report_run(run)
        diagnosis = json.loads((path.parent / "diagnosis.json").read_text(encoding="utf-8"))
        for finding in diagnosis["findings"]:
            say(f"  {finding['severity']}: {finding['title']}", style="yellow")
        print(f"report: {path}")


def _compare(args: argparse.Namespace) -> None:
    from ..report import compare_runs

    print(f"comparison: {compare_runs(args.runs, output=args.output)}")
