"""Comparison pages: recipe differences as dotted paths, metrics side by side, overlaid curves."""

from __future__ import annotations

import re

import pytest

import kerasforge
from kerasforge.cli import main
from kerasforge.errors import KerasforgeError
from kerasforge.report import compare_runs, flatten, recipe_differences


def test_flatten_and_differences():
    a = {"train": {"epochs": 3, "callbacks": [{"type": "EarlyStopping", "patience": 2}]}, "seed": 1}
    b = {"train": {"epochs": 5, "callbacks": [{"type": "EarlyStopping", "patience": 2}, "CSVLogger"]}, "seed": 1}
    assert flatten(a) == {"train.epochs": 3, "train.callbacks[0].type": "EarlyStopping",
                          "train.callbacks[0].patience": 2, "seed": 1}
    assert recipe_differences([a, b]) == [("train.callbacks[1]", ["—", "CSVLogger"]), ("train.epochs", [3, 5])]
    assert recipe_differences([a, a]) == []


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    recipe = {"name": "digits", "data": {"dataset": "digits"}, "train": {"epochs": 2, "verbose": 0},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]}}
    first = kerasforge.train(recipe, output_dir=out, show_summary=False)
    second = kerasforge.train(recipe, output_dir=out, show_summary=False, resume=False,
                              overrides=["train.epochs=3", "train.batch_size=64"])
    return first.path, second.path


def test_comparison_page(two_runs, tmp_path):
    page = compare_runs(two_runs, output=tmp_path / "cmp.html")
    text = page.read_text()
    assert "train.epochs" in text and "train.batch_size" in text and "seed" not in re.findall(r"<td>(\w+)</td>", text)
    assert text.count(two_runs[0].name) >= 2 and "test_accuracy" in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 1


def test_kforge_compare_writes_to_output(two_runs, tmp_path, capsys):
    out = tmp_path / "sub" / "c.html"
    assert main(["compare", *map(str, two_runs), "--output", str(out)]) == 0
    assert out.is_file() and f"comparison: {out}" in capsys.readouterr().out


def test_kforge_compare_default_path(two_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *map(str, two_runs)]) == 0
    (page,) = (tmp_path / "runs").glob("compare-*.html")
    assert page.stat().st_size > 1000


def test_compare_needs_two_runs(two_runs, tmp_path):
    with pytest.raises(KerasforgeError, match="at least two"):
        compare_runs(two_runs[:1])
    with pytest.raises(KerasforgeError, match="no run.json"):
        compare_runs([two_runs[0], tmp_path])
