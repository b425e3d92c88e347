"""`kforge check` says ok, so training must not crash: AUC/Precision/Recall with class-id labels (the
README's my_cnn.yaml), MSE on a classification task."""

from __future__ import annotations

import numpy as np
import pytest

DIGITS = {
    "data": {"dataset": "digits", "subset": 200},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 1, "batch_size": 32},
}


def test_sparse_aware_auc_equals_auc_on_one_hot_rows():
    import keras

    from kerasforge.training.sparse_metrics import sparse_aware

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 64)
    p = rng.dirichlet(np.ones(4), 64).astype("float32")
    sparse = sparse_aware(keras.metrics.AUC, 4)(name="auc")
    dense = keras.metrics.AUC(name="auc")
    sparse.update_state(y, p)
    dense.update_state(np.eye(4, dtype="float32")[y], p)
    assert float(sparse.result()) == pytest.approx(float(dense.result()), abs=1e-6)


def _train(recipe: dict, tmp_path):
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train(recipe, output_dir=tmp_path, show_summary=False, track=False)


def test_auc_precision_recall_with_sparse_labels_train_and_reload(tmp_path):
    from kerasforge import load_run

    recipe = {**DIGITS, "train": {**DIGITS["train"], "loss": "sparse_categorical_crossentropy",
                                  "metrics": ["accuracy", {"type": "AUC", "name": "auc"}, "Precision", "Recall"]}}
    run = _train(recipe, tmp_path)
    for name in ("test_auc", "test_precision", "test_recall"):
        assert 0.0 <= run.metrics[name] <= 1.0
    assert run.metrics["test_auc"] > 0.5
    assert load_run(run.path).model is not None  # the compiled metrics deserialize


def test_mse_on_a_classification_task_trains_on_one_hot_rows(tmp_path):
    run = _train({**DIGITS, "train": {**DIGITS["train"], "loss": "mse", "epochs": 2}}, tmp_path)
    assert run.data_info["label_encoding"]["output"] == "one_hot"
    assert 0.0 <= run.metrics["test_loss"] < 0.2
