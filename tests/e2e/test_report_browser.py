"""Acceptance: a real report of a short Fashion-MNIST CNN run, and a comparison page, open in headless
Chromium with every image rendered, the diagnosis section present and no console errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import kerasforge
from kerasforge.data import DatasetNotFoundError
from kerasforge.errors import DataError
from kerasforge.recipe import read_recipe_data
from kerasforge.report import compare_runs
from kerasforge.report.browser import CHROMIUM, render_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    recipe = read_recipe_data("fashion_mnist_cnn")
    recipe.pop("extends", None)
    recipe["data"] = {**recipe["data"], "subset": 2000, "fallback": None}
    recipe["data"].pop("fallback")
    recipe["train"] = {**recipe["train"], "epochs": 3, "batch_size": 32, "verbose": 0}
    out = tmp_path_factory.mktemp("runs")
    try:
        first = kerasforge.train(recipe, output_dir=out, show_summary=False)
    except (DatasetNotFoundError, DataError) as exc:
        pytest.skip(f"Fashion-MNIST is not here: {exc}")
    second = kerasforge.train(recipe, output_dir=out, show_summary=False, resume=False,
                              overrides=["train.optimizer.learning_rate=0.0005"])
    return first, second


def test_healthy_fashion_cnn_has_no_problem_findings(fashion_runs):
    run = fashion_runs[0]
    assert run.metrics["test_accuracy"] > 0.75  # chance is 0.1
    diagnosis = json.loads((run.path / "diagnosis.json").read_text())
    assert diagnosis["problems"] == 0, diagnosis


def assert_renders(page: dict, expected_images: int) -> None:
    assert page["images"] == expected_images and page["broken_images"] == []
    assert page["console_errors"] == [] and page["page_errors"] == []
    assert page["requests"] == []  # nothing fetched from outside the file


def test_run_report_renders_in_chromium(fashion_runs, tmp_path):
    page = render_report(fashion_runs[0].path / "report.html", screenshot=tmp_path / "shot.png")
    assert_renders(page, expected_images=4)  # curves, confusion matrix, predictions, top losses
    assert "diagnosis" in page["ids"] and "examples" in page["ids"]
    assert (tmp_path / "shot.png").stat().st_size > 50_000


def test_report_opens_offline_from_a_copied_folder(fashion_runs, tmp_path):
    copy = shutil.copytree(fashion_runs[0].path, tmp_path / "sent")
    (copy / "plots").rename(copy / "plots-gone")  # the page must not need the files beside it
    assert_renders(render_report(copy / "report.html"), expected_images=4)


def test_comparison_report_renders_in_chromium(fashion_runs, tmp_path):
    output = compare_runs([r.path for r in fashion_runs], output=tmp_path / "compare.html")
    page = render_report(output)
    assert_renders(page, expected_images=1)
    assert "recipe-differences" in page["ids"]
    assert "train.optimizer.learning_rate" in output.read_text()
