"""The inference model: RAW inputs through the training's own scaling and reshaping, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasforge.recipe import load_recipe
from kerasforge.runs import Run

RECIPE = {"name": "digits_logits", "data": {"dataset": "digits", "normalize": "standardize"},
          "model": {"layers": [{"type": "Dense", "units": 10}]},
          "train": {"loss": {"type": "sparse_categorical_crossentropy", "from_logits": True}}}
INFO = {"kind": "image", "task": "multiclass", "class_names": [str(i) for i in range(10)], "num_classes": 10,
        "input_shape": [8, 8, 1], "model_input_shape": [64],
        "preprocessing": {"normalize": "standardize", "offset": [4.9], "divisor": [6.1], "pixel_max": 16.0}}


def _run():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])  # emits logits
    return Run(path=Path("runs/x"), recipe=load_recipe(RECIPE), model=model, data_info=INFO)


def test_raw_pixels_are_scaled_reshaped_and_logits_turned_into_probabilities():
    import keras

    from kerasforge.data import fit_features
    from kerasforge.export import build_inference_model
    from kerasforge.predict import _scale

    run = _run()
    wrapped = build_inference_model(run)
    raw = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1)).astype("float32")
    logits = run.model.predict(fit_features(_scale(raw, INFO), (64,), where="test"), verbose=0)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    got = wrapped.model.predict(raw, verbose=0)
    assert got.shape == (6, 10) and np.max(np.abs(got - expected)) < 1e-5
    assert wrapped.raw.as_card()["shape"] == [None, 8, 8, 1] and wrapped.raw.name == "pixels"
    assert [step.split()[0] for step in wrapped.built_in] == ["Rescaling", "Reshape", "softmax"]
