"""Plots are real PNG files of a sensible size, for every kind of input they accept."""

from __future__ import annotations

import numpy as np
from PIL import Image

from kerasforge.evaluate import evaluate_classification
from kerasforge.report import plots


def size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_curves_with_learning_rate_changes_and_missing_values(tmp_path):
    history = {"epoch": [1, 2, 3, 4], "loss": [1.0, 0.5, None, 0.3], "val_loss": [1.1, 0.6, 0.7, 0.8],
               "accuracy": [0.5, 0.7, 0.8, 0.9], "val_accuracy": [0.5, 0.6, 0.6, 0.6],
               "learning_rate": [1e-3, 1e-3, 5e-4, 2.5e-4]}
    width, height = size(plots.training_curves(history, tmp_path / "c.png"))
    assert width > 600 and height > 200
    assert size(plots.training_curves({}, tmp_path / "empty.png"))[0] > 100


def test_confusion_grid_and_roc(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 10_000)
    probs = rng.dirichlet(np.ones(10), size=10_000)
    ev = evaluate_classification(probs, y, [f"class {i}" for i in range(10)])
    assert size(plots.confusion_heatmap(ev, tmp_path / "cm.png"))[0] > 300
    images = rng.random((18, 28, 28, 1)).astype("float32")
    assert size(plots.image_grid(images, ev["top_losses"], tmp_path / "grid.png", title="t"))[0] > 500
    rgb = rng.random((5, 32, 32, 3)).astype("float32")
    rows = [{"true": "a", "predicted": "b", "probability": 0.5}] * 5
    assert size(plots.image_grid(rgb, rows, tmp_path / "rgb.png", title="t"))[0] > 300
    binary = evaluate_classification(np.stack([1 - probs[:, 0], probs[:, 0]], 1), y % 2, ["no", "yes"])
    assert size(plots.roc_curve_plot(binary["roc"], tmp_path / "roc.png"))[0] > 200
    assert len(binary["roc"]["fpr"]) <= 200
