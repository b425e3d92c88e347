"""Re-verifying exports: corrupted files fail with a clear message, through the API and `kforge export --verify-only`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kerasforge.cli import main
from kerasforge.export import ExportError, verify_export
from kerasforge.export.card import file_entries
from kerasforge.export.verify import accuracy, compare


def test_compare_float_exports_by_max_abs_difference():
    ref = np.array([[0.9, 0.1], [0.3, 0.7]])
    assert compare(ref, ref + 5e-5, np.array([0, 1]), quantized=False)["passed"]
    failed = compare(ref, ref + 2e-4, np.array([0, 1]), quantized=False)
    assert not failed["passed"] and failed["max_abs_diff"] == pytest.approx(2e-4)


def test_compare_quantized_exports_by_accuracy():
    labels = np.arange(200) % 2
    ref = np.eye(2)[labels] * 0.8 + 0.1  # all right
    close = ref.copy()
    close[0] = close[0, ::-1]  # one example of 200 wrong: half a point
    far = ref.copy()
    far[:3] = far[:3, ::-1]  # three wrong: 1.5 points
    assert compare(ref, close, labels, quantized=True)["passed"]
    result = compare(ref, far, labels, quantized=True)
    assert not result["passed"] and result["accuracy_delta"] == pytest.approx(-0.015)
    assert not compare(ref, ref * np.nan, labels, quantized=True)["passed"]
    assert not compare(ref, ref[:, :1], labels, quantized=False)["passed"]


def test_compare_quantized_regressors_by_their_error_not_by_float_closeness():
    rng = np.random.default_rng(0)
    targets = rng.normal(50.0, 10.0, size=(300, 1))
    keras_out = targets + rng.normal(0.0, 2.0, size=targets.shape)  # the float model: MAE about 1.6
    quantized = keras_out + rng.normal(0.0, 0.05, size=targets.shape)  # rounding noise: far above 1e-4
    result = compare(keras_out, quantized, targets, task="regression", quantized=True)
    assert result["passed"] and result["max_abs_diff"] > 1e-4, result
    worse = compare(keras_out, keras_out + 3.0, targets, task="regression", quantized=True)  # off by 3 everywhere
    assert not worse["passed"] and worse["mae_export"] > worse["mae_keras"], worse
    assert not compare(keras_out, quantized, targets, task="regression", quantized=False)["passed"]


def test_accuracy_of_one_sigmoid_unit():
    assert accuracy(np.array([[0.2], [0.7], [0.6]]), np.array([0, 1, 0])) == pytest.approx(2 / 3)


@pytest.fixture
def run_copy(fashion_run, fashion_exports, tmp_path):
    """A copy of the exported Fashion-MNIST run, free to damage."""
    return shutil.copytree(fashion_run, tmp_path / fashion_run.name)


@pytest.mark.slow
@pytest.mark.parametrize("fmt, artifact", [("onnx", "model.onnx"), ("tflite", "model.tflite")])
def test_flipped_bytes_fail_verification(run_copy, fmt, artifact, capsys):
    folder = run_copy / "exports" / fmt
    assert verify_export(folder)["passed"]
    data = bytearray((folder / artifact).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    (folder / artifact).write_bytes(bytes(data))

    with pytest.raises(ExportError) as caught:
        verify_export(folder)
    message = caught.value.message
    assert f"the {fmt} export failed verification" in message and f"{artifact} (sha256 differs" in message
    assert f"--format {fmt}" in message  # the fix: export it again

    assert main(["export", str(run_copy), "--verify-only", "--format", fmt, "-q"]) == 2
    err = capsys.readouterr().err
    assert "export error" in err and "sha256 differs" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_changed_weights_with_matching_checksums_fail_on_predictions(run_copy):
    import onnx
    from onnx import numpy_helper

    folder = run_copy / "exports" / "onnx"
    model = onnx.load(folder / "model.onnx")
    biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    biggest.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(biggest) * 1.5, biggest.name))
    onnx.save(model, folder / "model.onnx")
    card = json.loads((folder / "model_card.json").read_text())
    card["files"] = file_entries(folder)  # a "re-signed" card: only the predictions can tell
    (folder / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ExportError, match="predictions no longer match the Keras model: max abs difference"):
        verify_export(folder)


@pytest.mark.slow
def test_verify_only_passes_on_intact_exports(fashion_run, fashion_exports, capsys):
    assert main(["export", str(fashion_run), "--verify-only", "--format", "onnx,tflite-float16", "-q"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in out] == ["onnx", "tflite-float16"]
    assert "verified on 256 examples" in out[0]
