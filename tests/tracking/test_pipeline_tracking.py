"""`kforge train` logs every finished run to the embedded MLflow store, found with MLflow's own client."""

from __future__ import annotations

import json

import yaml

from kerasforge.cli import main

RECIPE = {
    "name": "digits_track",
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 2, "batch_size": 64},
}


def test_train_command_tracks_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KFORGE_NO_TRACK", raising=False)
    monkeypatch.delenv("KFORGE_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    recipe = tmp_path / "digits_track.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "runs"
    assert main(["train", str(recipe), "--quiet", "--output", str(out), "--wait"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and p.name.startswith("digits_track-")]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["tracking_uri"] == f"sqlite:///{out.resolve()}/mlflow.db"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info["tracking_uri"])
    tracked = client.get_run(info["mlflow_run_id"])
    assert tracked.data.params["train.epochs"] == "2"
    assert len(client.get_metric_history(tracked.info.run_id, "val_loss")) == 2
    assert {a.path for a in client.list_artifacts(tracked.info.run_id)} >= {"model.keras", "recipe.yaml"}

    capsys.readouterr()
    assert main(["runs", "--output", str(out), "--sort", "test_accuracy"]) == 0
    listing = capsys.readouterr().out
    assert run_dir.name in listing and info["mlflow_run_id"][:8] in listing

    assert main(["train", str(recipe), "--quiet", "--output", str(tmp_path / "untracked"), "--no-track"]) == 0
    assert not (tmp_path / "untracked" / "mlflow.db").exists()
