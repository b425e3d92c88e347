"""The run report: written by every training run, self-contained, rebuilt from the folder alone by
`kforge report`, and never at the cost of the trained model."""

from __future__ import annotations

import json
import re
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

import kerasforge
from kerasforge.cli import main

DIGITS = {"name": "digits_mlp", "data": {"dataset": "digits"},
          "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                               {"type": "Dense", "units": 10, "activation": "softmax"}]},
          "train": {"epochs": 4, "verbose": 0,
                    "callbacks": [{"type": "LearningRateScheduler", "schedule": "constant_then_exponential",
                                   "start_epoch": 2, "rate": 0.5}]}}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return kerasforge.train(DIGITS, output_dir=tmp_path_factory.mktemp("runs"), show_summary=False)


def test_training_writes_evaluation_diagnosis_plots_and_report(digits_run):
    path = digits_run.path
    evaluation = json.loads((path / "evaluation.json").read_text())
    counts = np.asarray(evaluation["confusion_matrix"]["counts"])
    assert counts.sum() == digits_run.metrics["test_examples"] == evaluation["examples"]
    assert np.trace(counts) / counts.sum() == pytest.approx(digits_run.metrics["test_accuracy"], abs=1e-3)
    assert set(evaluation["top_k_accuracy"]) == {"top_3_accuracy", "top_5_accuracy"}
    assert len(evaluation["top_losses"]) == 18 and evaluation["classification_report"]["per_class"]["7"]["support"] > 0
    assert json.loads((path / "diagnosis.json").read_text())["problems"] == 0
    for name in ("training_curves", "confusion_matrix", "predictions", "top_losses"):
        with Image.open(path / "plots" / f"{name}.png") as image:
            assert image.width > 200 and image.height > 150
    info = json.loads((path / "run.json").read_text())
    assert info["status"] == "finished" and info["report"]["path"] == "report.html" and "report_error" not in info


def test_report_is_self_contained(digits_run):
    text = (digits_run.path / "report.html").read_text()
    assert 'id="diagnosis"' in text and "No problems found" in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(https?:)?//", text)
    assert "Total params" in text and "dense" in text  # the model summary
    assert "constant_then_exponential" in text and "keras" in text  # recipe and environment
    assert "Learning rate changed" in text  # the schedule halved it from epoch 3


def test_kforge_report_rebuilds_from_the_folder_alone(digits_run, tmp_path, capsys):
    copy = shutil.copytree(digits_run.path, tmp_path / digits_run.path.name)
    before = json.loads((copy / "evaluation.json").read_text())
    for item in ("evaluation.json", "diagnosis.json", "report.html"):
        (copy / item).unlink()
    shutil.rmtree(copy / "plots")
    assert main(["report", str(copy), "--quiet"]) == 0
    assert f"report: {copy / 'report.html'}" in capsys.readouterr().out
    after = json.loads((copy / "evaluation.json").read_text())
    assert after["confusion_matrix"] == before["confusion_matrix"]  # same data, same split, same model
    assert (copy / "plots" / "predictions.png").is_file() and 'id="diagnosis"' in (copy / "report.html").read_text()


def test_kforge_report_on_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no run.json" in capsys.readouterr().err


class SpoilPlotsFolder(keras.callbacks.Callback):
    """Puts a file where the plots folder must go, so that writing the report fails."""

    def __init__(self, output) -> None:
        super().__init__()
        self.output = output

    def on_train_end(self, logs=None):
        for run_dir in self.output.iterdir():
            (run_dir / "plots").write_text("not a folder")


def test_a_failing_report_never_loses_the_model(tmp_path):
    recipe = {**DIGITS, "train": {"epochs": 1, "verbose": 0}}
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, callbacks=[SpoilPlotsFolder(tmp_path)])
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished" and "report_error" in info
    assert (run.path / "model.keras").is_file() and run.metrics["test_accuracy"] > 0.2
    assert kerasforge.load_run(run.path).model is not None


def test_binary_sigmoid_run_gets_a_roc_curve(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{'yes' if x + y > 0 else 'no'}" for x, y in rng.normal(size=(300, 2))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    recipe = {"name": "binary", "data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "target": "label"},
              "model": {"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                                   {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
              "train": {"epochs": 8, "verbose": 0}}
    run = kerasforge.train(recipe, output_dir=tmp_path / "runs", show_summary=False)
    evaluation = json.loads((run.path / "evaluation.json").read_text())
    assert evaluation["task"] == "binary" and evaluation["roc"]["auc"] > 0.8
    assert (run.path / "plots" / "roc_curve.png").is_file() and "ROC curve" in (run.path / "report.html").read_text()
    assert not (run.path / "plots" / "predictions.png").exists()  # not images


def test_multi_output_model_is_judged_on_its_main_output(tmp_path):
    model = {"inputs": {"pixels": [8, 8, 1]},
             "layers": [{"type": "Flatten", "name": "flat", "inputs": "pixels"},
                        {"type": "Dense", "units": 32, "activation": "relu", "name": "hidden"},
                        {"type": "Dense", "units": 10, "activation": "softmax", "name": "main"},
                        {"type": "Dense", "units": 10, "activation": "softmax", "name": "aux", "inputs": "flat"}],
             "outputs": ["main", "aux"]}
    run = kerasforge.train({"name": "two_heads", "data": {"dataset": "digits"}, "model": model,
                            "train": {"epochs": 4, "verbose": 0}}, output_dir=tmp_path, show_summary=False)
    evaluation = json.loads((run.path / "evaluation.json").read_text())
    assert evaluation["examples"] == run.metrics["test_examples"] and evaluation["accuracy"] > 0.8
    assert (run.path / "plots" / "confusion_matrix.png").is_file()


def test_a_regression_stopped_by_nan_still_gets_its_diagnosis_and_report(tmp_path):
    """The loss became NaN, the model predicts NaN: diagnosis.json explains it and the report is written."""
    import json

    import numpy as np

    import kerasforge
    from kerasforge.console import set_quiet

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    rows = "\n".join(",".join(f"{v:.3f}" for v in (*r, r @ [1.0, 2.0, 3.0])) for r in x)
    (tmp_path / "reg.csv").write_text("a,b,c,y\n" + rows + "\n")
    set_quiet(True)
    run = kerasforge.train({
        "data": {"dataset": "csv", "path": str(tmp_path / "reg.csv"), "target": "y"},
        "model": {"layers": [{"type": "Dense", "units": 16, "activation": "relu"}, {"type": "Dense", "units": 1}]},
        "train": {"epochs": 3, "optimizer": {"type": "sgd", "learning_rate": 1e12}, "metrics": []},
    }, output_dir=tmp_path / "runs", show_summary=False, track=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["stopped"]["reason"] == "non_finite_loss"
    assert "report_error" not in info
    findings = json.loads((run.path / "diagnosis.json").read_text())["findings"]
    assert any(f["code"] == "non_finite_loss" for f in findings)
    evaluation = json.loads((run.path / "evaluation.json").read_text())
    assert evaluation["non_finite_predictions"] > 0 and evaluation["rmse"] is None
    assert (run.path / "report.html").is_file()
