"""`kforge export`: formats given several ways, an output folder, and errors as one paragraph with exit code 2."""

from __future__ import annotations

import json

import pytest

from kerasforge.cli import main


@pytest.mark.slow
def test_export_command_writes_verified_exports_to_the_output_folder(imdb_run, tmp_path, capsys):
    out = tmp_path / "deploy"
    code = main(["export", str(imdb_run), "--format", "keras", "-f", "tflite,onnx", "--quantize", "dynamic",
                 "--format", "savedmodel", "--output", str(out), "--examples", "100", "-q"])
    captured = capsys.readouterr()
    assert code == 2 and "the keras format cannot be quantized" in captured.err  # keras has no quantization

    code = main(["export", str(imdb_run), "--format", "keras", "-f", "tflite-dynamic,onnx", "--output", str(out),
                 "--examples", "100", "-q"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and [line.split(":")[0] for line in lines] == ["keras", "tflite-dynamic", "onnx"]
    assert sorted(p.name for p in out.iterdir()) == ["keras", "onnx", "tflite-dynamic"]
    card = json.loads((out / "tflite-dynamic" / "model_card.json").read_text())
    assert card["quantize"] == "dynamic" and card["verification"]["examples"] == 100
    assert main(["export", str(imdb_run), "--verify-only", "--output", str(out), "-q"]) == 0


def test_export_command_needs_a_format(tmp_path, capsys):
    assert main(["export", str(tmp_path), "-q"]) == 2
    assert "no export format given" in capsys.readouterr().err


def test_export_command_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "onnx", "-q"]) == 2
    assert "is not a kerasforge run folder" in capsys.readouterr().err
