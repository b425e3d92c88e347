"""Reports: plots of a run, its self-contained ``report.html``, and comparison pages of several runs.

Example:
    >>> report_run("runs/fashion_mnist_cnn-20261123-101500")                    # doctest: +SKIP
    PosixPath('runs/fashion_mnist_cnn-20261123-101500/report.html')
    >>> compare_runs(["runs/a-1", "runs/b-2"], output="compare.html")           # doctest: +SKIP
    PosixPath('compare.html')
"""

from __future__ import annotations

from .build import ReportInputs, model_summary_text, report_run, write_report
from .compare import compare_runs, flatten, recipe_differences

__all__ = ["ReportInputs", "compare_runs", "flatten", "model_summary_text", "recipe_differences", "report_run",
           "write_report"]
