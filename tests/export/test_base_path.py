"""``export_run(..., base_path=BASE)``: TF Serving's ``<base>/<version>/`` layout, next free version, verifiable."""

from __future__ import annotations

import json

import pytest

from kerasforge.export import export_run, verify_export
from kerasforge.export.base_path import next_version
from kerasforge.export.errors import ExportError


def test_versions_in_tf_servings_layout(fashion_run, tmp_path):
    base = tmp_path / "models" / "fashion"
    first = export_run(fashion_run, ["savedmodel"], base_path=base, examples=32)["savedmodel"]
    (base / "7").mkdir()  # a version made elsewhere: the next one goes above it
    second = export_run(fashion_run, ["onnx"], base_path=base, examples=32)["onnx"]
    assert first.path == base / "1" and second.path == base / "8"
    assert sorted(p.name for p in base.iterdir()) == ["1", "7", "8"]  # nothing hidden is left behind
    assert (base / "1" / "saved_model.pb").is_file() and (base / "1" / "variables").is_dir()  # as TF Serving reads it
    card = json.loads((base / "1" / "model_card.json").read_text())
    assert card["version"] == 1 and card["artifact"] == "saved_model.pb" and "saved_model.pb" in card["files"]
    assert verify_export(base / "1", examples=32)["passed"]
    assert verify_export(base / "8", examples=32)["passed"]
    (base / "8" / "model.onnx").write_bytes(b"damaged")
    with pytest.raises(ExportError, match="changed since export"):
        verify_export(base / "8", examples=32)
    assert next_version(base) == 9


def test_one_format_per_version(fashion_run, tmp_path):
    with pytest.raises(ExportError, match="one format"):
        export_run(fashion_run, ["onnx", "keras"], base_path=tmp_path / "base")
    assert not (tmp_path / "base").exists()
