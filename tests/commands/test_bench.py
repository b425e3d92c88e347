"""kforge bench writes its RESULTS.md table in the working folder, never into the installed package."""

from __future__ import annotations

from pathlib import Path

from kerasforge.cli import _parser
from kerasforge.commands.bench import RESULTS_MD, results_path


def test_default_results_file_is_under_the_output_folder_not_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _parser().parse_args(["bench", "accuracy", "digits_mlp"])
    target = results_path(args.results, Path(args.output))
    assert target == Path("benchmarks/results/RESULTS.md")
    assert RESULTS_MD.resolve() != target.resolve()
    assert not target.resolve().is_relative_to(RESULTS_MD.parent.resolve())
    args = _parser().parse_args(["bench", "accuracy", "--output", "b", "--results", "none"])
    assert results_path(args.results, Path(args.output)) is None

