"""Small real searches: digits subsets, tiny MLPs, a couple of epochs, real SQLite studies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


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
