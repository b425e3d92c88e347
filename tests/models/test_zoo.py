"""The model zoo: residual network, transfer learning (both base sources, fine-tuning) and the
subclassed model with its own clipped training step, on real digits where learning is checked."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.errors import ModelError
from kerasforge.models.zoo.custom import ClippedClassifier, clip_gradients
from kerasforge.models.zoo.resnet import resnet
from kerasforge.models.zoo.transfer import FineTune, convolutional_base, find_base, mobilenetv2_transfer


def _small_images(n: int = 64, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, size, size, 3)).astype("float32") * 0.2
    x[y == 1, : size // 2] += 0.7  # class 1: a bright top half
    return x, y


def test_resnet_learns_digits(digits):
    model = resnet((8, 8, 1), 10, stages=(1, 1), width=16, flip=False, shift=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(digits.x_train, digits.y_train, epochs=6, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert accuracy >= 0.85  # chance is 0.10
    assert any(isinstance(layer, keras.layers.Add) for layer in model.layers)


def test_resnet_sizes_and_bad_stages():
    assert resnet((32, 32, 3), 10, stages=(3, 3, 3), width=16, flip=False, shift=0).count_params() < 300_000
    with pytest.raises(ValueError, match="stages"):
        resnet((32, 32, 3), 10, stages=(0,))


def test_clipping_scales_only_long_gradients():
    short, _ = clip_gradients([keras.ops.ones((4,)) * 0.1], 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(short[0]), 0.1, rtol=1e-6)
    long, norm = clip_gradients([keras.ops.ones((4,)) * 3.0, keras.ops.ones((5,)) * 4.0], 1.0)
    total = np.sqrt(sum(float(np.sum(keras.ops.convert_to_numpy(g) ** 2)) for g in long))
    assert float(norm) == pytest.approx(np.sqrt(36 + 80)) and total == pytest.approx(1.0, rel=1e-5)


def test_clipped_classifier_trains_with_its_own_step_and_saves(digits, tmp_path):
    model = ClippedClassifier(num_classes=10, hidden=(64,), clip_norm=0.5)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(digits.x_train, digits.y_train, epochs=8, batch_size=32, verbose=0).history
    assert history["grad_norm"][0] > 0.5  # the clipping had work to do
    accuracy = model.evaluate(digits.x_test, digits.y_test, verbose=0, return_dict=True)["accuracy"]
    assert accuracy >= 0.85  # chance is 0.10
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(digits.x_test[:5], verbose=0),
                               model.predict(digits.x_test[:5], verbose=0), atol=1e-6)


def test_transfer_needs_a_base():
    with pytest.raises(ModelError, match="no pretrained base") as caught:
        mobilenetv2_transfer((32, 32, 3), 2)
    assert "backbone" in caught.value.message and "weights" in caught.value.message
    with pytest.raises(ModelError, match="does not exist"):
        mobilenetv2_transfer((32, 32, 3), 2, weights="no/such/weights.h5")
    with pytest.raises(ModelError, match="no saved model"):
        mobilenetv2_transfer((32, 32, 3), 2, backbone="no/such/run")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_transfer_rejects_a_weights_file_that_does_not_fit(tmp_path):
    wrong = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(wrong)
    with pytest.raises(ModelError, match="does not fit"):
        mobilenetv2_transfer((32, 32, 3), 2, weights=str(wrong), alpha=0.35)


def test_backbone_of_an_earlier_model_is_cut_before_the_head(tmp_path, capsys):
    from kerasforge.console import set_quiet

    set_quiet(False)  # the message says which base was used
    x, y = _small_images()
    cnn = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                            keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                            keras.layers.Dense(2, activation="softmax")])
    cnn.save(tmp_path / "model.keras")
    base = convolutional_base(tmp_path)
    assert base.output_shape == (None, 15, 15, 8)
    model = mobilenetv2_transfer((32, 32, 3), 2, backbone=str(tmp_path), augment=False)
    assert find_base(model).name == "base_backbone"
    shown = capsys.readouterr()
    assert "convolutional base of" in shown.out + shown.err
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    dense.save(tmp_path / "dense.keras")
    with pytest.raises(ModelError, match="no convolutional layers"):
        convolutional_base(tmp_path / "dense.keras")


def test_fine_tune_unfreezes_only_the_last_layers_at_its_epoch():
    x, y = _small_images()
    model = mobilenetv2_transfer((32, 32, 3), 2, weights="random", alpha=0.35, augment=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    base = find_base(model)
    first, last = base.layers[1], [layer for layer in base.layers if layer.weights and
                                   not isinstance(layer, keras.layers.BatchNormalization)][-1]
    before = [layer.get_weights()[0].copy() for layer in (first, last)]

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.after_head_only = last.get_weights()[0].copy()

    snap = Snapshot()
    tune = FineTune(at_epoch=1, unfreeze=5, learning_rate=1e-2)
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[snap, tune], verbose=0)
    np.testing.assert_array_equal(snap.after_head_only, before[1])  # phase 1: base frozen
    assert tune.done and model.optimizer.learning_rate.numpy() == pytest.approx(1e-2)
    assert not np.allclose(last.get_weights()[0], before[1])        # phase 2: the last layers learn
    np.testing.assert_array_equal(first.get_weights()[0], before[0])  # the early layers stay


def test_custom_train_step_reports_no_gradient_norm_for_evaluation(tmp_path):
    """Evaluation takes no gradient: val_grad_norm/test_grad_norm were a meaningless 0."""
    import kerasforge

    run = kerasforge.train({"name": "clipped", "seed": 1, "data": {"dataset": "digits", "subset": 200},
                            "model": {"ref": "kerasforge.models.zoo.custom:ClippedClassifier",
                                      "kwargs": {"hidden": [16]}},
                            "train": {"epochs": 2, "validation_split": 0.2}},
                           output_dir=tmp_path, show_summary=False, report=False)
    assert run.history["grad_norm"] and all(g > 0 for g in run.history["grad_norm"])
    assert "val_accuracy" in run.history and "val_grad_norm" not in run.history
    assert "test_accuracy" in run.metrics and "test_grad_norm" not in run.metrics
