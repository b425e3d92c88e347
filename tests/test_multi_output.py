"""Multi-output models end to end: each output learns its own labels, and evaluation, report, diagnosis,
predict, serve, export and tracking show every output by name. One small run (the bundled 8x8 digits,
two heads: ``digit`` and ``parity`` = "label % 2") is shared by the tests of this module."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasforge
from kerasforge.cli import main

RECIPE = {
    "name": "two_heads", "seed": 0,
    "data": {"dataset": "digits", "targets": {"parity": "label % 2"}},
    "model": {"inputs": {"image": [8, 8, 1]}, "layers": [
        {"type": "Flatten", "inputs": "image"},
        {"type": "Dense", "units": 64, "activation": "relu", "name": "shared"},
        {"type": "Dense", "units": 10, "activation": "softmax", "name": "digit", "inputs": "shared"},
        {"type": "Dense", "units": 1, "activation": "sigmoid", "name": "parity", "inputs": "shared"}],
        "outputs": ["digit", "parity"]},
    "train": {"epochs": 15, "batch_size": 32, "verbose": 0, "validation_split": 0.1,
              "metrics": {"digit": ["accuracy"], "parity": ["accuracy"]}},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return kerasforge.train(RECIPE, output_dir=tmp_path_factory.mktemp("two_heads"), show_summary=False,
                            track=False)


def test_each_output_learns_its_own_labels(run):
    # chance: 0.10 for the digit, 0.50 for its parity; a head fed the other head's labels could not get there
    assert run.metrics["test_digit_accuracy"] > 0.75, run.metrics
    assert run.metrics["test_parity_accuracy"] > 0.75, run.metrics
    evaluation = json.loads((run.path / "evaluation.json").read_text())
    digit, parity = evaluation["outputs"]["digit"], evaluation["outputs"]["parity"]
    assert digit["task"] == "multiclass" and np.asarray(digit["confusion_matrix"]["counts"]).shape == (10, 10)
    assert parity["task"] == "binary" and np.asarray(parity["confusion_matrix"]["counts"]).shape == (2, 2)
    assert set(parity["classification_report"]["per_class"]) == {"0", "1"}
    assert parity["accuracy"] == pytest.approx(run.metrics["test_parity_accuracy"], abs=2e-3)
    assert digit["accuracy"] == pytest.approx(run.metrics["test_digit_accuracy"], abs=2e-3)
    assert evaluation["main_output"] == "digit" and evaluation["accuracy"] == digit["accuracy"]
    data = json.loads((run.path / "data.json").read_text())
    assert data["outputs"]["parity"] == {"task": "binary", "class_names": ["0", "1"],
                                         "labels": "data.targets: label % 2"}
    assert data["label_encoding"] == {"digit": "sparse", "parity": "binary"}


def test_report_and_diagnosis_show_every_output(run):
    html = (run.path / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="outputs"'):]
    assert "<td>digit</td>" in section and "<td>parity</td>" in section and 'href="#outputs"' in html
    assert (run.path / "plots" / "confusion_matrix_digit.png").is_file()
    assert (run.path / "plots" / "confusion_matrix_parity.png").is_file()
    json.loads((run.path / "diagnosis.json").read_text())  # written; the per-output rules are tested below
    from kerasforge.evaluate.outputs import OutputLabels, diagnose_outputs

    heads = OutputLabels(["digit", "parity"], {"digit": "multiclass", "parity": "binary"},
                         {"digit": list("0123456789"), "parity": ["0", "1"]}, {},
                         {"digit": np.arange(100) % 10, "parity": np.arange(100) % 2})
    stuck = {"epoch": [1, 2, 3], "digit_accuracy": [0.5, 0.9, 0.95], "parity_accuracy": [0.5, 0.5, 0.5],
             "val_parity_accuracy": [0.5, 0.5, 0.5]}
    found = diagnose_outputs(stuck, heads)
    assert {(f["output"], f["code"]) for f in found} == {("parity", "chance_level"), ("parity", "underfitting")}
    assert all(f["title"].startswith("Output 'parity'") for f in found)


def test_predict_prints_every_output(run, tmp_path, capsys):
    from kerasforge.data import load_dataset
    from kerasforge.recipe import DataSpec

    x = load_dataset(DataSpec(dataset="digits"), seed=0).x_test[:1]
    np.save(tmp_path / "one.npy", x[0])
    assert main(["predict", str(run.path), str(tmp_path / "one.npy"), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert " | parity: " in line and ": digit: " in line, line
    (row,) = kerasforge.predict(run.path, [tmp_path / "one.npy"], top_k=10)
    digit, parity = row["outputs"]["digit"]["top"], row["outputs"]["parity"]["top"]
    assert len(digit) == 10 and sum(p for _, p in digit) == pytest.approx(1.0, abs=1e-4)
    assert {c for c, _ in parity} == {"0", "1"} and sum(p for _, p in parity) == pytest.approx(1.0, abs=1e-6)
    assert row["top"] == digit  # the main output keeps the one-output form


def test_serve_answers_with_named_outputs(run):
    from fastapi.testclient import TestClient

    from kerasforge.export.heldout import held_out_examples
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    x, _ = held_out_examples(run, 2)  # RAW examples, as a client sends them (8-bit pixel values)
    x = np.clip(np.round(x), 0, 255).astype(np.uint8) if x.dtype != np.uint8 else x
    (row,) = kerasforge.predict(run.path, [_saved(run.path.parent, x[0])], top_k=1)
    with TestClient(create_app(ModelRegistry.from_paths([str(run.path)]))) as client:
        rows = client.post("/v1/models/two_heads:predict", json={"instances": x.tolist()})
        columns = client.post("/v1/models/two_heads:predict", json={"inputs": x.tolist()})
        classify = client.post("/v1/models/two_heads:classify", json={"examples": [{"image": x[0].tolist()}]})
        meta = client.get("/v1/models/two_heads/metadata")
    assert rows.status_code == columns.status_code == classify.status_code == meta.status_code == 200
    first = rows.json()["predictions"][0]
    assert sorted(first) == ["digit", "parity"] and len(first["digit"]) == 10 and len(first["parity"]) == 1
    assert len(rows.json()["predictions"]) == 2
    assert np.asarray(columns.json()["outputs"]["digit"]).shape == (2, 10)
    assert np.asarray(columns.json()["outputs"]["parity"]).shape == (2, 1)
    best = row["outputs"]["digit"]["top"][0]
    assert first["digit"][int(best[0])] == pytest.approx(best[1], abs=1e-5)  # serve and predict agree
    assert len(classify.json()["result"][0]) == 10  # :classify describes the main output
    outputs = meta.json()["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert sorted(outputs) == ["digit", "parity"]


def _saved(folder, example):
    path = folder / "example.npy"
    np.save(path, example)
    return path


def test_exports_keep_every_output(run, tmp_path):
    import keras

    from kerasforge.export import export_run
    from kerasforge.export.errors import ExportError

    results = export_run(run.path, ["keras", "h5"], examples=16, output=tmp_path)
    for fmt in ("keras", "h5"):
        assert results[fmt].verification["passed"], results[fmt].verification
        model = keras.saving.load_model(results[fmt].artifact, compile=False, safe_mode=True)
        out = model.predict(np.full((3, 8, 8, 1), 8.0, np.float32), verbose=0)
        assert sorted(out) == ["digit", "parity"] and out["digit"].shape == (3, 10) and out["parity"].shape == (3, 1)
    card = json.loads((tmp_path / "keras" / "model_card.json").read_text())
    assert sorted(card["output"]["outputs"]) == ["digit", "parity"]
    with pytest.raises(ExportError, match="several outputs") as caught:
        export_run(run.path, ["onnx"], examples=8, output=tmp_path / "onnx")
    assert "--format onnx" in caught.value.where and "keras" in caught.value.fix


def test_tracking_logs_every_output_by_name(run, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from kerasforge.tracking import log_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_run(run.path, tracking_uri=uri, output_dir=tmp_path)
    logged = MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics
    for name in ("test_digit_accuracy", "test_parity_accuracy", "val_digit_accuracy", "val_parity_accuracy",
                 "parity_loss", "digit_loss"):
        assert name in logged, sorted(logged)
    assert logged["test_parity_accuracy"] == pytest.approx(run.metrics["test_parity_accuracy"])


def test_python_api_takes_y_as_a_dict_per_output(tmp_path):
    """One head learns a function of the input (is a middle pixel inked), the other the digit: both far above
    chance (0.10 and about 0.5), each measured against its own labels."""
    from kerasforge.data import load_dataset
    from kerasforge.recipe import DataSpec

    ds = load_dataset(DataSpec(dataset="digits", normalize="none"), seed=0)
    x = np.concatenate([ds.x_train, ds.x_test])
    digit = np.concatenate([ds.y_train, ds.y_test])
    bright = (x[:, 3, 4, 0] > 8).astype(int)  # a function of the input: is one middle pixel inked (~half are)
    recipe = {**RECIPE, "name": "ink", "data": {"dataset": "python"},
              "model": {**RECIPE["model"], "layers": [*RECIPE["model"]["layers"][:3], {
                  "type": "Dense", "units": 1, "activation": "sigmoid", "name": "bright", "inputs": "shared"}],
                  "outputs": ["digit", "bright"]},
              "train": {**RECIPE["train"], "metrics": ["accuracy"]}}
    run = kerasforge.train(recipe, data=(x, {"digit": digit, "bright": bright}), output_dir=tmp_path,
                           show_summary=False, track=False, report=False)
    assert run.metrics["test_digit_accuracy"] > 0.75, run.metrics
    assert run.metrics["test_bright_accuracy"] > 0.85, run.metrics
    assert json.loads((run.path / "data.json").read_text())["outputs"]["bright"]["labels"] == "given per output"


@pytest.mark.parametrize(("override", "field"), [
    ("train.metrics={digit: [accuracy], pairty: [accuracy]}", "train.metrics.pairty"),
    ("train.loss={digit: sparse_categorical_crossentropy, odd: binary_crossentropy}", "train.loss.odd"),
    ("data.targets={parity: 'label % 2', digits: 'label'}", "data.targets.digits"),
])
def test_a_wrong_output_name_exits_2_naming_the_field(override, field, tmp_path, capsys):
    import yaml

    recipe = tmp_path / "two_heads.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE), encoding="utf-8")
    assert main(["check", str(recipe), "--set", override]) == 2
    assert field in capsys.readouterr().err
    # a model that does not list its outputs (here: the last layer, `parity`) has them known once it is
    # built: `kforge check` cannot tell, training stops there, before any epoch and any run folder
    implicit = tmp_path / "last_layer.yaml"
    implicit.write_text(yaml.safe_dump({**RECIPE, "model": {k: v for k, v in RECIPE["model"].items()
                                                            if k != "outputs"}}), encoding="utf-8")
    assert main(["check", str(implicit), "--set", override]) == 0
    capsys.readouterr()
    assert main(["train", str(implicit), "--set", override, "--output", str(tmp_path / "runs"), "--no-track"]) == 2
    err = capsys.readouterr().err
    assert field.rsplit(".", 1)[0] in err and "no output called" in err and "output names: parity" in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_output_trained_on_logits_gives_probabilities_everywhere(tmp_path):
    """`from_logits: true` on one output: predict, serve and the keras export apply its sigmoid once."""
    import keras
    from fastapi.testclient import TestClient

    from kerasforge.export import export_run
    from kerasforge.export.heldout import held_out_examples
    from kerasforge.serve.app import create_app
    from kerasforge.serve.registry import ModelRegistry

    layers = [*RECIPE["model"]["layers"][:3], {"type": "Dense", "units": 1, "name": "parity", "inputs": "shared"}]
    recipe = {**RECIPE, "name": "logit_head", "model": {**RECIPE["model"], "layers": layers},
              "train": {**RECIPE["train"], "epochs": 2,
                        "loss": {"parity": {"type": "binary_crossentropy", "from_logits": True}}}}
    run = kerasforge.train(recipe, output_dir=tmp_path / "runs", show_summary=False, track=False, report=False)
    x, _ = held_out_examples(run, 4)
    x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    export = export_run(run.path, ["keras"], examples=8, output=tmp_path / "exports")["keras"]
    exported = keras.saving.load_model(export.artifact, compile=False, safe_mode=True).predict(
        x.astype(np.float32), verbose=0)["parity"][:, 0]
    np.save(tmp_path / "one.npy", x[0])
    (row,) = kerasforge.predict(run.path, [tmp_path / "one.npy"], top_k=2)
    predicted = dict(row["outputs"]["parity"]["top"])["1"]
    with TestClient(create_app(ModelRegistry.from_paths([str(run.path)]))) as client:
        served = client.post("/v1/models/logit_head:predict", json={"instances": x.tolist()}).json()["predictions"]
    served = np.asarray([r["parity"][0] for r in served])
    assert np.all((exported > 0) & (exported < 1)) and np.all((served > 0) & (served < 1))
    np.testing.assert_allclose(served, exported, atol=1e-5)
    assert predicted == pytest.approx(exported[0], abs=1e-5)
