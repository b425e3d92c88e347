"""Evaluation numbers on hand-made predictions whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.evaluate import evaluate_classification, evaluate_regression, to_probabilities
from kerasforge.evaluate.evaluation import pick_examples
from kerasforge.evaluate.predictions import main_output

NAMES = ["cat", "dog", "fox", "owl"]


def test_confusion_report_and_per_class_accuracy():
    y = np.array([0, 0, 1, 1, 2, 3])
    probs = np.eye(4)[[0, 1, 1, 1, 2, 0]] * 0.7 + 0.075  # rows sum to 1
    ev = evaluate_classification(probs, y, NAMES)
    assert ev["confusion_matrix"]["counts"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert ev["confusion_matrix"]["normalized"][0] == [0.5, 0.5, 0.0, 0.0]
    assert ev["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert ev["per_class_accuracy"] == {"cat": 0.5, "dog": 1.0, "fox": 1.0, "owl": 0.0}
    report = ev["classification_report"]["per_class"]
    assert report["dog"]["precision"] == pytest.approx(2 / 3, abs=1e-4) and report["dog"]["support"] == 2
    assert report["owl"]["recall"] == 0.0
    assert set(ev["top_k_accuracy"]) == {"top_3_accuracy"}  # 4 classes: k=5 makes no sense
    assert "roc" not in ev


def test_top_losses_are_the_worst_examples_in_order():
    y = np.array([0, 1, 0])
    probs = np.array([[0.9, 0.1], [0.99, 0.01], [0.4, 0.6]])
    worst = evaluate_classification(probs, y, ["a", "b"], top_losses=2)["top_losses"]
    assert [w["index"] for w in worst] == [1, 2]
    assert worst[0]["true"] == "b" and worst[0]["predicted"] == "a" and worst[0]["probability"] == 0.99
    assert worst[0]["loss"] == pytest.approx(-np.log(0.01), abs=1e-3)


def test_binary_sigmoid_output_gets_roc_and_auc():
    y = np.array([0, 0, 1, 1, 1, 0])
    sigmoid = np.array([[0.1], [0.4], [0.35], [0.8], [0.9], [0.2]])
    ev = evaluate_classification(to_probabilities(sigmoid, "binary"), y, ["neg", "pos"])
    assert ev["task"] == "binary" and ev["roc"]["auc"] == pytest.approx(8 / 9, abs=1e-3)
    assert ev["roc"]["fpr"][0] == 0.0 and ev["roc"]["tpr"][-1] == 1.0
    assert ev["confusion_matrix"]["counts"] == [[3, 0], [1, 2]]


def test_logits_become_probabilities():
    probs = to_probabilities(np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0]]), "multiclass")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs.argmax(axis=1).tolist() == [0, 1]
    np.testing.assert_allclose(to_probabilities(np.array([[-2.0], [2.0]]), "binary")[:, 1], [0.1192, 0.8808], atol=1e-4)


def test_multi_output_predictions_use_the_main_output():
    main, aux = np.full((2, 3), 1 / 3), np.zeros((2, 1))
    assert main_output([main, aux]) is not None and main_output([main, aux]).shape == (2, 3)
    assert main_output({"aux": aux, "main": main}, ["main", "aux"]).shape == (2, 3)


def test_nan_predictions_count_as_uniform_and_are_reported():
    probs = np.array([[np.nan, np.nan], [0.2, 0.8]])
    ev = evaluate_classification(probs, np.array([1, 1]), ["a", "b"])
    assert ev["non_finite_predictions"] == 1 and ev["examples"] == 2


def test_regression_errors():
    ev = evaluate_regression(np.array([1.0, 2.0, 5.0]), np.array([1.0, 2.0, 3.0]), top_losses=1)
    assert ev["mae"] == pytest.approx(2 / 3, abs=1e-4) and ev["top_losses"][0]["index"] == 2
    assert "confusion_matrix" not in ev


def test_large_splits_are_sampled_with_the_seed():
    a, b = pick_examples(50_000, 1000, seed=3), pick_examples(50_000, 1000, seed=3)
    assert len(a) == 1000 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
