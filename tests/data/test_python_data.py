"""``kerasforge.train(recipe, data=...)``: numpy arrays, dicts of splits, tf.data and Grain datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerasforge.data.python_data import read_python_data
from kerasforge.errors import DataError


def images(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright vs dark 8x8 images: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.clip(rng.normal(40 + 170 * y[:, None, None, None], 20, (n, 8, 8, 1)), 0, 255).astype(np.uint8)
    return x, y


def test_arrays_dicts_and_errors() -> None:
    x, y = images()
    loaded = read_python_data((x, y), test_split=0.25, seed=0)
    ds = loaded.dataset
    assert ds.sizes() == {"train": 90, "validation": 0, "test": 30} and ds.x_train.dtype == np.uint8
    assert ds.task == "binary" and loaded.pixel_max == 255
    split = read_python_data({"train": (x[:80], y[:80]), "validation": (x[80:100], y[80:100]),
                              "test": (x[100:], y[100:])}).dataset
    assert split.sizes() == {"train": 80, "validation": 20, "test": 20}
    with pytest.raises(DataError, match="120 examples but 3 labels"):
        read_python_data((x, y[:3]))
    with pytest.raises(DataError, match="keys trian"):
        read_python_data({"trian": (x, y)})


def test_a_dict_of_named_inputs_says_how_to_give_them() -> None:
    x, y = images()
    with pytest.raises(DataError, match=r"dict of named inputs \(top, bottom\)") as info:
        read_python_data({"train": ({"top": x[:, :4], "bottom": x[:, 4:]}, y)})
    assert "data.views" in str(info.value) and "data['train']" in str(info.value)


def test_tf_data_examples_and_batches() -> None:
    tf = pytest.importorskip("tensorflow")
    x, y = images()
    examples = read_python_data(tf.data.Dataset.from_tensor_slices((x, y)), test_split=0.25).dataset
    batches = read_python_data(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), test_split=0.25).dataset
    assert examples.sizes() == batches.sizes() == {"train": 90, "validation": 0, "test": 30}
    np.testing.assert_array_equal(examples.x_train, batches.x_train)


@pytest.mark.parametrize("kind", ["numpy", "tf.data", "grain"])
def test_train_evaluate_export_from_python_data(kind: str, tmp_path: Path) -> None:
    import kerasforge

    x, y = images(160)
    if kind == "numpy":
        data = {"train": (x[:120], y[:120]), "test": (x[120:], y[120:])}
    elif kind == "tf.data":
        tf = pytest.importorskip("tensorflow")
        data = {"train": tf.data.Dataset.from_tensor_slices((x[:120], y[:120])).batch(16),
                "test": (x[120:], y[120:])}
    else:
        import grain

        data = {"train": grain.MapDataset.source(list(zip(x[:120], y[:120], strict=True))).batch(16),
                "test": (x[120:], y[120:])}
    recipe = {"name": f"own_{kind.replace('.', '_')}", "seed": 1,
              "model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]},
              "train": {"epochs": 6, "batch_size": 16, "validation_split": 0.1, "loss": "sparse_categorical_crossentropy",
                        "optimizer": {"type": "adam", "learning_rate": 0.05}},
              "output": {"dir": str(tmp_path / "runs"), "formats": ["keras"]}}
    run = kerasforge.train(recipe, data=data, show_summary=False, report=False)
    assert run.metrics["test_accuracy"] >= 0.9 and run.metrics["test_examples"] == 40
    info = json.loads((run.path / "data.json").read_text())
    assert info["dataset"] == "python" and info["sizes"]["validation"] == 12
    assert run.model.layers[0].name == "kforge_input_scaling"  # raw uint8 pixels in, scaled by the model
    from kerasforge.predict import predict

    assert predict(run.path, [_png(x[150], tmp_path)])[0]["top"][0][0] == str(y[150])
    # exports are verified on the raw held-out sample saved with the run (the recipe names no data)
    from kerasforge.export import export_run

    with np.load(run.path / "heldout.npz") as saved:
        np.testing.assert_array_equal(saved["x"], x[120:])
    formats = ["keras", "onnx"] if kind != "numpy" else ["keras", "h5", "weights", "savedmodel", "tflite",
                                                          "tflite-dynamic", "tflite-float16", "tflite-int8", "onnx",
                                                          "onnx-dynamic"]
    results = export_run(run.path, formats)
    for name, result in results.items():
        v = result.verification
        assert v["passed"] and v["examples"] == 40 and v["accuracy_export"] >= 0.9, name
    if kind == "numpy":  # int8 (verified above) calibrated on the raw training examples the run kept
        with np.load(run.path / "heldout.npz") as saved:
            assert saved["calibration_x"].shape == (120, 8, 8, 1) and saved["calibration_x"].dtype == x.dtype


def _png(pixels: np.ndarray, folder: Path) -> Path:
    from PIL import Image

    path = folder / "example.png"
    Image.fromarray(pixels[..., 0]).save(path)
    return path
