"""The recipe library as a whole: listed by `kforge recipes`, valid by `kforge check`, benchmarked by
`kforge bench accuracy`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kerasforge.checks import check_recipe
from kerasforge.cli import main
from kerasforge.commands.bench import recipe_target, update_results_markdown
from kerasforge.recipe import BUILTIN_RECIPES, builtin_recipe_names

EXPECTED = {
    "digits_mlp", "mnist_mlp", "mnist_mlp_bn", "mnist_cnn", "mnist_cnn_plus", "fashion_mnist_mlp",
    "fashion_mnist_cnn", "fashion_mnist_best", "cifar10_cnn", "cifar10_resnet", "imdb_lstm", "imdb_text",
    "multi_input", "custom_train_step", "cats_dogs_scratch", "transfer_mobilenetv2", "lr_schedule", "l2",
    "cifar10_speedrun",
}


def test_the_library_is_complete_and_listed(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert set(builtin_recipe_names()) >= EXPECTED  # other teams may add recipes (e.g. *_tune) beside these
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_passes_check(name):
    assert check_recipe(name).startswith(f"{name}: ")


@pytest.mark.parametrize("name", sorted(EXPECTED - {"digits_mlp"}))
def test_recipe_states_its_target_and_is_in_results(name):
    text = (BUILTIN_RECIPES / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.startswith("#") and "Target" in text
    results = (BUILTIN_RECIPES / "RESULTS.md").read_text(encoding="utf-8")
    row = next((line for line in results.splitlines() if line.startswith(f"| {name} |")), "")
    assert re.search(rf"`kforge bench accuracy {name} --seeds \d+", row), f"RESULTS.md has no reproducible row for {name}"
    if name != "transfer_mobilenetv2":
        assert recipe_target(name).startswith("≥ ")


def test_bench_accuracy_writes_json_and_updates_the_results_table(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n<!-- results:start -->\n| recipe | target |\n|---|---|\n"
                       "| digits_mlp | pending |\n| other | kept |\n<!-- results:end -->\nfooter\n", encoding="utf-8")
    code = main(["bench", "accuracy", "digits_mlp", "--seeds", "2", "--set", "train.epochs=8", "-q",
                 "--output", str(tmp_path / "out"), "--results", str(results)])
    assert code == 0
    rows = json.loads(next((tmp_path / "out").glob("accuracy-*.json")).read_text())
    assert [r["seed"] for r in rows[0]["runs"]] == [0, 1]
    assert rows[0]["accuracy_mean"] >= 0.8 and rows[0]["accuracy_std"] < 0.1  # chance is 0.1
    text = results.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| digits_mlp |"))
    assert "pending" not in row and "±" in row and "--set train.epochs=8" in row and "tensorflow" in row
    assert "| other | kept |" in text and text.endswith("footer\n")


def test_results_table_is_created_when_missing(tmp_path):
    row = {"recipe": "x", "target": "", "seeds": 1, "accuracy_mean": 0.5, "accuracy_std": 0.0, "epochs": 1.0,
           "wall_s": 3.0, "machine": "2 CPUs", "backend": "tensorflow", "date": "2026-01-01", "command": "c"}
    path = Path(tmp_path / "R.md")
    update_results_markdown(path, [row])
    update_results_markdown(path, [{**row, "accuracy_mean": 0.75}])
    lines = [line for line in path.read_text().splitlines() if line.startswith("| x |")]
    assert len(lines) == 1 and "75.00%" in lines[0]


@pytest.mark.slow
@pytest.mark.full  # two trainings of a rare-class recipe
def test_bench_of_an_imbalance_recipe_also_trains_the_unweighted_run_and_compares_rare_class_recall(tmp_path):
    recipe = tmp_path / "rare_digit.yaml"
    recipe.write_text(
        "description: 'digits with class 3 made rare; target >= 80%'\n"
        "data: {dataset: digits, imbalance: {class: 3, fraction: 0.05}}\n"
        "model: {layers: [Flatten, {type: Dense, units: 32, activation: relu}, {type: Dense, units: 10, activation: softmax}]}\n"
        "train: {optimizer: {type: adam, learning_rate: 0.003}, epochs: 6, batch_size: 32, validation_split: 0.1,"
        " class_weight: balanced}\n", encoding="utf-8")
    results = tmp_path / "RESULTS.md"
    code = main(["bench", "accuracy", str(recipe), "--seeds", "2", "-q", "--output", str(tmp_path / "out"),
                 "--results", str(results)])
    assert code == 0
    row = json.loads(next((tmp_path / "out").glob("accuracy-*.json")).read_text())[0]
    runs = row["runs"]
    assert [r["rare_class"] for r in runs] == [3, 3]
    assert all(r["unweighted_path"] != r["path"] for r in runs)
    snapshot = yaml.safe_load((Path(runs[0]["unweighted_path"]) / "recipe.yaml").read_text())
    assert snapshot["train"].get("class_weight") is None and snapshot["data"]["imbalance"]["fraction"] == 0.05
    for r in runs:  # the recall figures are the evaluation's own
        evaluation = json.loads((Path(r["path"]) / "evaluation.json").read_text())
        assert r["rare_recall"] == evaluation["classification_report"]["per_class"]["3"]["recall"]
        assert 0.0 <= r["unweighted_rare_recall"] <= 1.0
    assert row["rare_recall_mean"] > row["unweighted_rare_recall_mean"]  # 7 training 3s: unweighted, they are ignored
    unweighted_mean = row["unweighted_rare_recall_mean"]
    assert row["rare_recall_ratio"] == (row["rare_recall_mean"] / unweighted_mean if unweighted_mean else float("inf"))
    assert "class 3 recall" in results.read_text() and "unweighted" in results.read_text()
