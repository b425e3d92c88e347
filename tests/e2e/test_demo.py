"""The README's demo recipe: offline with no Fashion-MNIST anywhere, it falls back to digits and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_recipe_falls_back_to_digits(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "KFORGE_OFFLINE": "1", "KFORGE_DATA_DIR": str(empty),
           "KFORGE_SYSTEM_DATASETS": str(empty), "KERAS_HOME": str(empty), "HOME": str(empty)}
    kforge = Path(sys.executable).with_name("kforge")
    done = subprocess.run([str(kforge), "train", "fashion_mnist_cnn", "--set", "train.epochs=3",
                           "--output", str(tmp_path / "runs")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "digits" in done.stderr and "not found" in done.stderr.lower()
    (run_dir,) = list((tmp_path / "runs").iterdir())
    data = json.loads((run_dir / "data.json").read_text())
    assert data["dataset"] == "digits" and any("digits" in note for note in data["notes"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1


def test_recipes_command_lists_the_builtin_recipes(capsys):
    from kerasforge.cli import main

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "fashion_mnist_cnn" in out and "digits_mlp" in out
