"""The scaling layer inside functional models (flat rebuild, same layers) and who cannot take it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.data.dataset import Dataset
from kerasforge.data.scaling import (
    SCALING_LAYER,
    can_scale_inside,
    insert_scaling,
    match_model,
    rescale_rebuilt,
    why_not_inside,
)


def _small_functional(name: str = "image") -> keras.Model:
    inputs = keras.Input((6, 6, 3), name=name)
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x), name="small")


def _vgg_style_transfer() -> keras.Model:
    """transfer()'s shape with a tiny VGG-style base: a nested functional model, frozen, called with
    training=False, between augmentation and a new head."""
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(image)
    x = keras.layers.MaxPooling2D(name="block1_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block2_conv1")(x)
    base = keras.Model(image, keras.layers.BatchNormalization(name="block2_bn")(x), name="base_random")
    base.trainable = False
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    x = keras.layers.GlobalAveragePooling2D()(base(x, training=False))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="classes")(x), name="transfer")


def _check_transfer(model: keras.Model, shape: tuple, tmp_path) -> None:
    assert can_scale_inside(model)
    trainable = {layer.name: layer.trainable for layer in model.layers}
    scaled = insert_scaling(model, [0.0], [255.0], shape)
    names = [layer.name for layer in scaled.layers]
    assert names[:2] == ["image", SCALING_LAYER] and names[2:] == list(trainable)[1:]
    assert scaled.inputs[0].name == "image" and scaled.inputs[0].dtype == model.inputs[0].dtype
    assert scaled.get_layer("base_random") is model.get_layer("base_random")
    assert {n: scaled.get_layer(n).trainable for n in trainable} == trainable
    assert len(scaled.trainable_weights) == len(model.trainable_weights) == 2  # the head only
    raw = np.random.default_rng(0).integers(0, 256, (2, *shape)).astype(np.uint8)
    expected = model.predict(raw.astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(scaled.predict(raw, verbose=0), expected, atol=1e-6)
    scaled.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert back.layers[1].name == SCALING_LAYER
    np.testing.assert_allclose(back.predict(raw, verbose=0), expected, atol=1e-6)
    model.get_layer("base_random").trainable = True  # FineTune unfreezes the model it is given: the same base
    assert len(scaled.trainable_weights) == len(model.trainable_weights) > 2


def test_a_transfer_model_takes_the_layer_flat_with_its_frozen_base_and_weights(tmp_path):
    """The rebuild reuses the same layer objects: the frozen base keeps its weights and trainable flags, and
    the model's layers stay flat (get_layer finds the user's layers)."""
    _check_transfer(_vgg_style_transfer(), (16, 16, 3), tmp_path)


@pytest.mark.full  # 17 s: the zoo's real MobileNetV2 transfer model; the VGG-style one above is the same case
def test_the_zoo_transfer_model_takes_the_layer_with_its_mobilenetv2_base(tmp_path):
    from kerasforge.models.zoo.transfer import transfer

    _check_transfer(transfer((32, 32, 3), 2, application="MobileNetV2", weights="random", alpha=0.35),
                    (32, 32, 3), tmp_path)


def test_the_layer_follows_the_recipe_precision():
    from kerasforge.training.fastpath import precision_scope

    with precision_scope("mixed_bfloat16"):
        scaled = insert_scaling(_small_functional(), [0.0], [255.0], (6, 6, 3))
    assert scaled.get_layer(SCALING_LAYER).dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"


class _OwnStep(keras.Model):
    def train_step(self, data):  # pragma: no cover - never trained here
        return super().train_step(data)


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(keras.ops.reshape(x, (-1, 4)))


def test_models_a_rebuild_could_change_are_scaled_per_batch():
    inputs = keras.Input((4,))
    own_step = _OwnStep(inputs, keras.layers.Dense(2)(inputs))
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    two = keras.Model([a, b], keras.layers.Concatenate()([a, b]))
    sub = _Subclassed()
    sub(np.zeros((1, 4)))
    for model, why in [(own_step, "subclasses the functional Model"), (two, "2 inputs"),
                       (sub, "subclassed model")]:
        assert not can_scale_inside(model)
        assert why in why_not_inside(model)


def _pending_dataset() -> Dataset:
    x = np.full((4, 6, 6, 3), 255, np.uint8)
    return Dataset("t", x, np.arange(4) % 3, x[:2], np.arange(2), ["a", "b", "c"],
                   preprocessing={"pending": {"normalize": "scale", "offset": [0.0], "divisor": [255.0]}})


def test_a_reloaded_functional_model_that_scales_itself_gets_raw_pixels():
    """match_model looked at layers[0], a functional model's InputLayer, and scaled on the host too."""
    scaled = insert_scaling(_small_functional(), [0.0], [255.0], (6, 6, 3))
    ds = _pending_dataset()
    match_model(ds, scaled)
    assert ds.x_train.dtype == np.uint8 and "pending" not in ds.preprocessing
    ds = _pending_dataset()
    match_model(ds, _small_functional())  # trained on host-scaled pixels: scaled here as well
    assert ds.x_train.dtype == np.float32 and float(ds.x_train.max()) == 1.0


def test_a_model_rebuilt_from_its_recipe_gets_the_layer_back_before_its_weights(tmp_path):
    trained = insert_scaling(_small_functional(), [10.0], [2.0], (6, 6, 3))
    trained.save_weights(tmp_path / "model.weights.h5")
    info = {"input_shape": [6, 6, 3], "preprocessing": {"in_model": {"offset": [10.0], "divisor": [2.0]}}}
    rebuilt = rescale_rebuilt(_small_functional(), info)
    rebuilt.load_weights(tmp_path / "model.weights.h5")
    raw = np.random.default_rng(1).integers(0, 256, (3, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(raw, verbose=0), trained.predict(raw, verbose=0), atol=1e-6)
    plain = _small_functional()
    assert rescale_rebuilt(plain, {"preprocessing": {"offset": 0.0, "divisor": 255.0}}) is plain


@pytest.mark.parametrize("shape", [(6, 6, 3), (108,)])
def test_per_channel_values_fit_a_flattened_input(shape):
    inputs = keras.Input(shape, name="pixels")
    model = keras.Model(inputs, keras.layers.Flatten()(inputs))
    scaled = insert_scaling(model, [1.0, 2.0, 3.0], [2.0, 4.0, 8.0], (6, 6, 3))
    raw = np.random.default_rng(2).integers(0, 256, (2, 6, 6, 3)).astype(np.float32)
    expected = ((raw - [1.0, 2.0, 3.0]) / [2.0, 4.0, 8.0]).reshape(2, -1)
    np.testing.assert_allclose(scaled.predict(raw.reshape((2, *shape)), verbose=0), expected, rtol=1e-6)
