"""Every built-in recipe trains by name on a small subset for a few epochs and learns well above chance.

Each recipe's overrides shrink it (fewer examples, 1-3 epochs, smaller images or network) without
changing what it is; the threshold is one that a broken model (wrong labels, frozen weights, inputs lost)
cannot reach and that the working recipe reached with a clear margin in repeated runs.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import kerasforge
from kerasforge.recipe import builtin_recipe_names

# recipe -> (overrides, minimum test accuracy). Chance: 0.10 for ten classes, 0.50 for two.
SMOKE: dict[str, tuple[list[str], float]] = {
    "digits_mlp": (["train.epochs=10"], 0.80),
    "mnist_mlp": (["data.subset=1000", "train.epochs=2"], 0.70),
    "mnist_mlp_bn": (["data.subset=1000", "train.epochs=2", "train.batch_size=32"], 0.70),
    "mnist_cnn": (["data.subset=1000", "train.epochs=2"], 0.60),
    "mnist_cnn_plus": (["data.subset=600", "train.epochs=3", "train.batch_size=16"], 0.50),
    "fashion_mnist_mlp": (["data.subset=1000", "train.epochs=2"], 0.55),
    "fashion_mnist_cnn": (["data.subset=1000", "train.epochs=2"], 0.50),
    "fashion_mnist_best": (["data.subset=600", "train.epochs=3", "train.batch_size=16", "train.callbacks=[]",
                            "train.optimizer.learning_rate=0.001"], 0.45),
    "cifar10_cnn": (["data.subset=1000", "train.epochs=2"], 0.20),
    "cifar10_resnet": (["data.subset=1000", "train.epochs=3", "train.batch_size=32", "train.callbacks=[]",
                        "model.kwargs.stages=[1,1]", "model.kwargs.width=16",
                        "train.optimizer.learning_rate=0.02"], 0.20),
    "cifar10_speedrun": (["data.subset=2000", "train.epochs=3", "train.batch_size=128", "model.kwargs.widths=[16,32,32]",
                          "train.callbacks=[{type: LearningRateScheduler, schedule: linear_warmup_decay, epochs: 3, "
                          "warmup_epochs: 0.5}]"], 0.25),
    "imdb_lstm": (["data.subset=1000", "data.maxlen=100", "train.epochs=2", "train.batch_size=32"], 0.60),
    "imdb_text": (["data.subset=1000", "train.epochs=3", "train.batch_size=32",
                   "train.optimizer.learning_rate=0.01"], 0.60),
    "multi_input": (["data.subset=1000", "train.epochs=2"], 0.70),
    "multi_output": (["data.subset=1000", "train.epochs=3"], 0.70),
    "custom_train_step": (["data.subset=1000", "train.epochs=2"], 0.70),
    "cats_dogs_scratch": (["data.subset=1000", "data.image_size=[32,32]", "train.epochs=8",
                           "train.optimizer.learning_rate=0.001"], 0.58),
    "lr_schedule": (["data.subset=1000", "train.epochs=2", "train.callbacks=[{type: LearningRateScheduler, "
                     "schedule: constant_then_exponential, start_epoch: 1, rate: 0.1}]"], 0.70),
    "l2": (["data.subset=1000", "train.epochs=2"], 0.50),
    "imbalanced": (["data.subset=1000", "train.epochs=2"], 0.50),
    "imbalanced_focal": (["data.subset=1000", "train.epochs=2"], 0.50),
    "fashion_mnist_cnn_tune": (["data.subset=1000", "train.epochs=2"], 0.50),
    "fashion_mnist_cnn_tuned": (["data.subset=1000", "train.epochs=2"], 0.50),
}
# Recipes full of BatchNormalization: a few dozen steps leave its moving averages far from the data's
# statistics, so the test split (inference mode) says little; their training accuracy shows the learning.
TRAIN_ACCURACY = {"mnist_cnn_plus", "fashion_mnist_best"}
# Multi-output recipes: every output's test accuracy (named <split>_<output>_accuracy) must reach the minimum.
OUTPUT_ACCURACY = {"multi_output": ("digit", "parity")}
# Over ~20 s on a shared 2-core machine: run with `pytest -m slow`.
SLOW = {"cats_dogs_scratch", "fashion_mnist_best", "imdb_text", "imdb_lstm", "mnist_cnn_plus"}
# Minutes on CI's 2 cores, and their kind of model is covered by a shorter recipe: the full set only
FULL = {"cats_dogs_scratch", "cifar10_cnn", "cifar10_resnet", "cifar10_speedrun", "fashion_mnist_best"}
NOT_SMOKED_HERE = {"transfer_mobilenetv2"}  # needs a backbone run: see test_transfer_from_an_earlier_run


def smoke(name: str, tmp_path, extra: list[str] | None = None, trained=None):
    """The recipe trained with its smoke overrides: ``trained`` (the session's ``trained_recipe``) shares
    one run per recipe with the end-to-end test."""
    overrides, _ = SMOKE[name]
    if trained is not None and not extra:
        return trained(name, overrides)
    start = time.perf_counter()
    run = kerasforge.train(name, output_dir=tmp_path, show_summary=False,
                           overrides=[*overrides, "train.verbose=0", *(extra or [])])
    run.info["smoke_s"] = time.perf_counter() - start
    return run


def test_every_library_recipe_has_a_smoke_test():
    assert set(builtin_recipe_names()) == set(SMOKE) | NOT_SMOKED_HERE


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] * (n in SLOW) + [pytest.mark.full] * (n in FULL))
                                  for n in sorted(SMOKE)])
def test_recipe_learns_on_a_small_subset(name, tmp_path, trained_recipe):
    run = smoke(name, tmp_path, trained=trained_recipe)
    minimum = SMOKE[name][1]
    key = "accuracy" if name in TRAIN_ACCURACY else "test_accuracy"
    if name in OUTPUT_ACCURACY:  # the weakest output decides
        key = min((f"test_{out}_accuracy" for out in OUTPUT_ACCURACY[name]), key=run.metrics.__getitem__)
    accuracy = run.history["accuracy"][-1] if name in TRAIN_ACCURACY else run.metrics[key]
    print(f"{name}: {key} {accuracy:.3f} (minimum {minimum}) in {run.info['smoke_s']:.1f} s")
    assert accuracy >= minimum
    assert (run.path / "model.keras").is_file()


def test_lr_schedule_decays_after_its_start_epoch(tmp_path, trained_recipe):
    run = smoke("lr_schedule", tmp_path, trained=trained_recipe)  # the smoke test's run, trained once
    rate = float(np.asarray(run.model.optimizer.learning_rate))
    assert rate == pytest.approx(1e-3 * np.exp(-0.1), rel=1e-4)  # constant for epoch 0, decayed at epoch 1


def test_custom_train_step_reports_its_gradient_norm(tmp_path, trained_recipe):
    run = smoke("custom_train_step", tmp_path, trained=trained_recipe)
    assert run.history["grad_norm"] and all(g > 0 for g in run.history["grad_norm"])


def test_two_views_beat_one(tmp_path, trained_recipe):
    both = smoke("multi_input", tmp_path / "both", trained=trained_recipe)
    top_only = kerasforge.train(
        {"name": "top_only", "data": {"dataset": "mnist", "subset": 1000, "views": {"top": "0:392"}},
         "model": {"inputs": {"top": [392]}, "layers": [
             {"type": "Dense", "units": 128, "activation": "relu", "inputs": "top"},
             {"type": "Dense", "units": 128, "activation": "relu"}, {"type": "Dropout", "rate": 0.3},
             {"type": "Dense", "units": 10, "activation": "softmax"}]},
         "train": {"epochs": 2, "batch_size": 128, "verbose": 0}},
        output_dir=tmp_path / "top", show_summary=False)
    assert both.metrics["test_accuracy"] > top_only.metrics["test_accuracy"] + 0.03


@pytest.mark.slow
@pytest.mark.full  # transfer by name offline stays in the default set (tests/models/test_transfer.py)
def test_transfer_from_an_earlier_run(tmp_path, capsys):
    backbone = smoke("cifar10_cnn", tmp_path / "backbone")
    run = kerasforge.train("transfer_mobilenetv2", output_dir=tmp_path / "transfer", show_summary=False, overrides=[
        "model.kwargs.weights=null", f"model.kwargs.backbone={backbone.path}", "data.subset=200",
        "data.image_size=[32,32]", "train.epochs=2", "train.verbose=0",
        "train.callbacks=[{type: 'kerasforge.models.zoo.transfer:FineTune', at_epoch: 1, unfreeze: 2, "
        "learning_rate: 0.00001}]"])
    shown = capsys.readouterr()
    assert "convolutional base of" in shown.out + shown.err and "fine-tuning from epoch 2" in shown.out + shown.err
    assert float(np.asarray(run.model.optimizer.learning_rate)) == pytest.approx(1e-5)
    assert run.metrics["test_accuracy"] >= 0.5 - 0.1  # mechanics only: 32x32 cats vs dogs, 2 epochs


def test_transfer_with_a_missing_weights_file_says_what_to_give(tmp_path):
    """transfer_mobilenetv2 trains by name offline (weights: auto); a weights file that is not there is a
    clear error naming the field, before any training."""
    from kerasforge.errors import ModelError

    with pytest.raises(ModelError, match="does not exist") as caught:
        kerasforge.train("transfer_mobilenetv2", output_dir=tmp_path, show_summary=False,
                         overrides=["data.subset=20", "data.image_size=[32,32]", "train.epochs=1",
                                    f"model.kwargs.weights={tmp_path / 'missing_no_top.h5'}"])
    assert "model.kwargs" in (caught.value.where or "")
