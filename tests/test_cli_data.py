"""``kforge data RECIPE``: builds the decoded cache, then reuses and verifies it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_pipeline_stream import colour_folder, recipe

from kerasforge.cli import main


def test_kforge_data_builds_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    folder = colour_folder(tmp_path / "colours", per_class=5)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(folder, tmp_path / "runs", "auto")))
    assert main(["data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "built now" in out and "images/s" in out and "bytes: " in out
    assert main(["data", str(path), "--verify"]) == 0
    assert "every checksum verified" in capsys.readouterr().out
    assert main(["data", str(path), "--json", "-q"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["reused"] is True and sum(sum(c.values()) for c in info["splits"].values()) == 15
    assert set(info["splits"]["train"]) == {"red", "green", "blue"}


def test_kforge_data_refuses_other_datasets(tmp_path: Path, capsys) -> None:
    assert main(["data", "digits_mlp"]) == 2
    assert "only image folders" in capsys.readouterr().err
