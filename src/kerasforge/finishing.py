"""Finishing a trained run: its report and its MLflow record, in this process or in a background one.

``kforge train`` prints its result as soon as the model and metrics are saved, and hands the report
and the tracking to a background process that outlives the command (``python -m kerasforge.finishing
RUN``, log in ``RUN/finishing.log``); ``kforge train --wait`` does them before returning. Either way
``run.json`` says where each part stands (``parts: {model: done, metrics: done, report: pending|done|
failed, tracking: pending|done|failed}``), so nothing is lost when a process is killed: the next
``kforge train`` of the same recipe, ``kforge report RUN`` or ``kforge track RUN`` finishes the parts
left ``pending``.

Example:
    >>> finish_parts("runs/digits_mlp-20261123-101500")     # doctest: +SKIP
    {'report': 'done', 'tracking': 'done'}
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .lifecycle import FINISHING_PARTS, release, set_parts, unfinished_parts, wait_for
from .runs import read_json

LOG_NAME = "finishing.log"


def finisher_command(run_dir: Path, *, report: bool, track: bool, tracking_uri: str | None) -> list[str]:
    """The command line of the background process that finishes ``run_dir``."""
    cmd = [sys.executable, "-m", "kerasforge.finishing", str(run_dir)]
    if not report:
        cmd.append("--no-report")
    if not track:
        cmd.append("--no-track")
    if tracking_uri:
        cmd += ["--tracking-uri", tracking_uri]
    return cmd


def start_in_background(run_dir: Path, *, report: bool, track: bool, tracking_uri: str | None = None) -> int:
    """Mark the parts ``pending`` and start the background process that makes them; returns its pid.

    The process waits for this one to release the run folder (see :mod:`kerasforge.lifecycle`) and
    survives this process's end (its own session; output in ``RUN/finishing.log``).
    """
    run_dir = Path(run_dir).resolve()
    env = dict(os.environ)
    backend = (read_json(run_dir / "env.json", {}) or {}).get("backend")
    if backend:
        env["KERAS_BACKEND"] = backend  # the model comes back on the backend it was trained on
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    with open(run_dir / LOG_NAME, "ab") as log:
        proc = subprocess.Popen(finisher_command(run_dir, report=report, track=track, tracking_uri=tracking_uri),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, close_fds=True)
    return proc.pid


def finish_parts(run_dir: str | Path, *, report: bool = True, track: bool = True, tracking_uri: str | None = None,
                 say=None) -> dict[str, str]:
    """Make the ``pending`` (or ``failed``) report and tracking of ``run_dir`` here; returns their states.

    Waits for a live owner of the folder first. Each part that fails is recorded ``failed`` with its
    error (``report_error``/``tracking_error`` in run.json) and the other still runs.
    """
    from .runs import update_run_info

    run_dir = Path(run_dir).resolve()
    lock = wait_for(run_dir, say=say)
    try:
        info = read_json(run_dir / "run.json", {}) or {}
        todo = unfinished_parts(info) if info.get("parts") else list(FINISHING_PARTS)
        states: dict[str, str] = {}
        if report and "report" in todo:
            try:
                from .report import report_run

                report_run(run_dir)  # marks the part done
                states["report"] = "done"
            except Exception as exc:  # noqa: BLE001 - recorded, the other part still runs
                set_parts(run_dir, report="failed")
                update_run_info(run_dir, report_error=f"{type(exc).__name__}: {exc}"[:2000])
                states["report"] = "failed"
                if say:
                    say(f"  warning: the report could not be written ({type(exc).__name__}: {exc})", style="yellow")
        if track and "tracking" in todo:
            try:
                from .tracking import log_run

                log_run(run_dir, tracking_uri=tracking_uri)  # marks the part done
                states["tracking"] = "done"
            except Exception as exc:  # noqa: BLE001
                set_parts(run_dir, tracking="failed")
                update_run_info(run_dir, tracking_error=f"{type(exc).__name__}: {exc}"[:2000])
                states["tracking"] = "failed"
                if say:
                    say(f"  warning: tracking failed, the run is saved ({type(exc).__name__}: {exc})", style="yellow")
        return states
    finally:
        lock.release()


def finish_earlier_run(recipe, output_dir: str | Path | None, resume: bool | None, *, chief: bool = True,
                       report: bool = True, track: bool = True, tracking_uri: str | None = None):
    """Before training ``recipe``: fail up front when the output folder cannot be written, and when the
    last run of the same recipe there has its model saved but its report or tracking pending (killed
    before they were made), finish those and return that run (a :class:`kerasforge.runs.Run`) instead
    of training again. ``None``: train."""
    from .console import say
    from .lifecycle import check_writable, find_unfinished
    from .runs import load_run

    if not chief:
        return None
    output = Path(output_dir or recipe.output.dir)
    check_writable(output)
    resume = recipe.output.resume if resume is None else resume
    run_dir = find_unfinished(output, recipe) if resume else None
    if run_dir is None:
        return None
    say(f"[bold]kerasforge[/bold] {recipe.name}: {run_dir} is trained (model saved); finishing its report and "
        "tracking instead of training again (`--new` trains a new run)", style="cyan")
    backend = (read_json(run_dir / "env.json", {}) or {}).get("backend")
    if backend and "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        os.environ["KERAS_BACKEND"] = backend
    track = track and not os.environ.get("KFORGE_NO_TRACK")
    finish_parts(run_dir, report=report, track=track, tracking_uri=tracking_uri, say=say)
    return load_run(run_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m kerasforge.finishing RUN [--no-report] [--no-track] [--tracking-uri URI]``."""
    parser = argparse.ArgumentParser(prog="python -m kerasforge.finishing")
    parser.add_argument("run")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--no-track", action="store_true")
    parser.add_argument("--tracking-uri")
    args = parser.parse_args(argv)
    states = finish_parts(args.run, report=not args.no_report, track=not args.no_track,
                          tracking_uri=args.tracking_uri, say=lambda text, style=None: print(text, flush=True))
    print(f"finished {args.run}: {states}", flush=True)
    return 0 if all(s == "done" for s in states.values()) else 1


__all__ = ["finish_parts", "release", "start_in_background"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
