"""Small real searches: digits subsets, tiny MLPs, a couple of epochs, real SQLite studies."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BASE = {
    "name": "tiny",
    "seed": 7,
    "data": {"dataset": "digits", "subset": 300},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 16, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"optimizer": {"type": "adam", "learning_rate": 0.01}, "epochs": 2, "batch_size": 32,
              "validation_split": 0.2},
}


def make_recipe(search: dict, **sections) -> dict:
    """The tiny digits recipe with a ``search`` section (and sections replaced/merged)."""
    data = copy.deepcopy(BASE)
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    data["search"] = search
    return data


@pytest.fixture
def recipe_file(tmp_path):
    """Write a recipe dict to a YAML file in tmp_path and return its path."""

    def write(data: dict, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _quiet_and_untracked(monkeypatch):
    """Quiet output; no MLflow logging unless a test asks for it (tracking has its own test)."""
    from kerasforge.console import is_quiet, set_quiet

    monkeypatch.setenv("KFORGE_NO_TRACK", "1")
    was = is_quiet()
    set_quiet(True)
    yield
    set_quiet(was)


def kforge(*args: str, cwd: Path, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    """Run the real ``kforge`` command line in a subprocess (``popen=True`` returns the process)."""
    env = {**os.environ, "KFORGE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "kerasforge.cli", *args]
    if kwargs.pop("popen", False):
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def load_study(path: Path, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")
