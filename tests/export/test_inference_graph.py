"""The graph an exporter converts: augmentation left out, recurrent layers unrolled, weights shared."""

from __future__ import annotations

import numpy as np

from kerasforge.export.inference_graph import unrolled_recurrent, without_training_layers


def test_augmentation_is_left_out_also_inside_nested_models_and_predictions_stay_the_same():
    import keras

    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1),
                                keras.layers.RandomShear(x_factor=0.1)], name="augment")
    inputs = keras.Input((12, 12, 1))
    x = augment(inputs)
    x = keras.layers.GaussianNoise(0.1)(x)
    x = keras.layers.Conv2D(2, 3)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    stripped, removed = without_training_layers(model)
    assert sorted(r.split(" ")[1] for r in removed) == [
        "(GaussianNoise)", "(RandomFlip)", "(RandomRotation)", "(RandomShear)"]
    kinds = {type(layer).__name__ for layer in stripped.layers}
    kinds |= {type(layer).__name__ for layer in stripped.get_layer("augment").layers}
    assert not kinds & {"RandomFlip", "RandomRotation", "RandomShear", "GaussianNoise"}
    x = np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert stripped.layers[-1] is model.layers[-1]  # the same layer objects: weights shared, not copied


def test_a_model_without_augmentation_comes_back_as_it_is():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert without_training_layers(model) == (model, [])
    flip = keras.layers.RandomFlip("horizontal")
    flip.call = lambda inputs, training=None: inputs * 2.0  # not the identity at inference: it must stay
    odd = keras.Sequential([keras.Input((6, 6, 1)), flip])
    assert without_training_layers(odd) == (odd, [])


def test_recurrent_layers_are_unrolled_with_the_same_weights():
    import keras

    model = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(20, 4),
                              keras.layers.LSTM(3, return_sequences=True), keras.layers.GRU(3),
                              keras.layers.Dense(1, activation="sigmoid")])
    unrolled, changed = unrolled_recurrent(model)
    assert [c.split(" ")[1] for c in changed] == ["(LSTM)", "(GRU)"]
    assert all(layer.unroll for layer in unrolled.layers if type(layer).__name__ in ("LSTM", "GRU"))
    x = np.random.default_rng(0).integers(0, 20, (5, 7)).astype("int32")
    np.testing.assert_allclose(unrolled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
