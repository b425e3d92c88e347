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


def test_kforge_data_shows_tables_and_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from test_pipeline_tables import recipe as table_recipe
    from test_pipeline_tables import table

    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(table_recipe(table(tmp_path / "sizes.csv"), tmp_path / "runs", True)))
    assert main(["data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "built now" in out and "rows/s" in out and "table: 600 rows read" in out and "5 features" in out
    assert main(["data", str(path), "--json", "-q"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["reused"] is True and info["rows"] == 600 and info["task"] == "binary"
    assert {s: sum(c.values()) for s, c in info["splits"].items()} == {"train": 384, "validation": 96, "test": 120}
    assert set(info["splits"]["train"]) == {"big", "small"}
    texts = tmp_path / "texts"
    for label in ("pos", "neg"):
        (texts / label).mkdir(parents=True)
        for i in range(4):
            (texts / label / f"{i}.txt").write_text(f"{label} review {i}")
    (texts / "pos" / "latin1.txt").write_bytes("très bien".encode("latin-1"))
    path.write_text(yaml.safe_dump({"name": "t", "data": {"dataset": "text_folder", "path": str(texts)},
                                    "model": {"layers": [{"type": "Dense", "units": 2}]}}))
    assert main(["data", str(path), "--json", "-q"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["reused"] is False and sum(sum(c.values()) for c in info["splits"].values()) == 9
    assert info["not_utf8"]["count"] == 1 and info["not_utf8"]["files"][0].endswith("latin1.txt")
    assert main(["data", str(path)]) == 0
    assert "not UTF-8: 1 file(s)" in capsys.readouterr().out


def test_kforge_data_builds_the_entries_training_reads_with_a_validation_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from kerasforge.data.loader import load_raw
    from kerasforge.recipe import load_recipe

    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    folder = colour_folder(tmp_path / "colours", per_class=4)
    val = colour_folder(tmp_path / "checked", per_class=2)
    data = recipe(folder, tmp_path / "runs", "auto")
    data["data"]["validation"] = str(val)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["data", str(path)]) == 0
    assert f"validation: 6 examples from {val}" in capsys.readouterr().out
    spec = load_recipe(path).data
    ds = load_raw(spec, 3, validation_split=0.2).dataset  # what training reads: both entries reused
    assert ds.cache["reused"] and "validation: read the decoded images from the cache" in " ".join(ds.notes)
    assert ds.sizes()["train"] + ds.sizes()["test"] == 12
