"""Optimizers, losses and metrics by their Keras names."""

from __future__ import annotations

import pytest

from kerasforge.errors import RecipeError
from kerasforge.recipe import LossSpec, MetricSpec, OptimizerSpec
from kerasforge.training.compile import canonical_loss_name, make_loss, make_metrics, make_optimizer


def test_optimizers_by_name_with_kwargs():
    adam = make_optimizer(OptimizerSpec(type="adam", learning_rate=0.01, clipnorm=1.0))
    sgd = make_optimizer(OptimizerSpec(type="SGD", momentum=0.9, nesterov=True))
    assert type(adam).__name__ == "Adam" and adam.clipnorm == 1.0
    assert float(adam.learning_rate) == pytest.approx(0.01)
    assert type(sgd).__name__ == "SGD" and sgd.momentum == 0.9
    assert type(make_optimizer(OptimizerSpec(type="rmsprop"))).__name__ == "RMSprop"


def test_losses_by_snake_or_class_name():
    loss, name = make_loss(LossSpec(type="CategoricalCrossentropy", from_logits=True), "unused")
    assert name == "categorical_crossentropy" and loss.get_config()["from_logits"] is True
    _, default = make_loss(None, "sparse_categorical_crossentropy")
    assert default == "sparse_categorical_crossentropy"
    assert canonical_loss_name("BinaryFocalCrossentropy") == "binary_focal_crossentropy"


def test_metrics_by_name():
    metrics = make_metrics([MetricSpec(type="accuracy"), MetricSpec(type="AUC"),
                            MetricSpec(type="Precision", name="prec")])
    assert metrics[0] == "accuracy"
    assert metrics[1].name.startswith("auc") and metrics[2].name == "prec"  # Keras numbers repeated names


def test_misspelt_names_and_arguments_are_explained():
    with pytest.raises(RecipeError, match="Did you mean") as info:
        make_optimizer(OptimizerSpec(type="adma"))
    assert info.value.where == "train.optimizer.type"
    with pytest.raises(RecipeError, match="'momentum'") as info:
        make_optimizer(OptimizerSpec(type="sgd", momentun=0.9))
    assert info.value.where == "train.optimizer.momentun"
    with pytest.raises(RecipeError, match="from_logits"):
        make_loss(LossSpec(type="CategoricalCrossentropy", from_logit=True), "unused")


def test_a_regression_reports_mean_absolute_error_not_accuracy(tmp_path):
    """The default metric, accuracy, reported a meaningless 0.0 for regressions."""
    from serve_helpers import regression_csv

    import kerasforge

    run = kerasforge.train({"name": "reg", "seed": 0,
                            "data": {"dataset": "csv", "path": str(regression_csv(tmp_path / "t.csv")), "target": "y"},
                            "model": {"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                                                 {"type": "Dense", "units": 1}]},
                            "train": {"epochs": 2}},
                           output_dir=tmp_path / "runs", show_summary=False, report=True, track=False)
    assert "test_accuracy" not in run.metrics
    assert run.metrics["test_mae"] > 0 and run.metrics["test_mae"] < 50
