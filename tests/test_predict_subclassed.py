"""kforge predict on runs whose model is written in Python (subclassed: no symbolic input shape)."""

from __future__ import annotations

import numpy as np

import kerasforge
from kerasforge.predict import predict


def test_predict_a_raw_example_with_a_subclassed_model(tmp_path):
    """custom_train_step / cifar10_speedrun: a single .npy example lost its batch dimension before."""
    run = kerasforge.train({"name": "clipped", "seed": 1, "data": {"dataset": "digits", "subset": 100},
                            "model": {"ref": "kerasforge.models.zoo.custom:ClippedClassifier",
                                      "kwargs": {"hidden": [16]}}, "train": {"epochs": 1}},
                           output_dir=tmp_path, show_summary=False, report=False)
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 1)).astype(np.uint8)
    np.save(tmp_path / "one.npy", pixels)
    (row,) = predict(run.path, [tmp_path / "one.npy"], top_k=1)
    scaled = pixels.astype("float32")[None] * (16 / 255) / 16  # raw 0..255 -> digits' 0..16 -> / 16
    expected = np.asarray(run.model.predict(scaled, verbose=0))[0]
    assert row["top"][0][0] == str(int(np.argmax(expected))) or row["top"][0][0] == run.data_info[
        "class_names"][int(np.argmax(expected))]
    assert abs(row["top"][0][1] - float(expected.max())) < 1e-5


def test_kerasforge_predict_stays_the_function_after_its_module_is_imported():
    """`import kerasforge.predict` (the serving code does) rebound `kerasforge.predict` to the module."""
    import subprocess
    import sys

    code = ("import kerasforge.predict, kerasforge; from kerasforge.predict import predict as f; "
            "assert kerasforge.predict is f, type(kerasforge.predict)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
