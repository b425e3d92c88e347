"""Models with RandomShear or an adapted text vocabulary reload from model.keras (Keras saving bugs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kerasforge
from kerasforge.saving import load_model_file, save_model

TEXTS = np.array(["good film \x85 great", "bad \x85 film", "a\u2028b fine", "ok\u2029 c", "x\x1cy z", "dull\r\nplot"] * 3,
                 dtype=object)


@pytest.fixture
def on_tensorflow(request):
    """String inputs need Keras on TensorFlow; the suite's process may have imported Keras on JAX first
    (a dense recipe trained in-process picks JAX), so then the test is run again in a TensorFlow child."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
                          capture_output=True, text=True, timeout=300, cwd=request.config.rootpath,
                          env={**__import__("os").environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    pytest.skip("passed in a TensorFlow child process (this process runs Keras on another backend)")


def _roundtrip(model, x, tmp_path: Path):
    """Save, reload, and assert the reloaded model predicts the same; returns the reloaded model."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    before = np.asarray(model.predict(x, verbose=0))
    save_model(model, tmp_path, ["keras"])
    again = load_model_file(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(again.predict(x, verbose=0)), before, atol=1e-6)
    return again


def test_a_random_shear_model_reloads(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.RandomShear(x_factor=0.2, y_factor=0.1),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    _roundtrip(model, np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32), tmp_path)
    assert load_model_file(tmp_path / "model.keras").layers[0].x_factor == (-0.2, 0.2)


def test_a_tf_idf_vocabulary_shorter_than_max_tokens_reloads(tmp_path, on_tensorflow):
    import keras

    layer = keras.layers.TextVectorization(max_tokens=500, ngrams=2, output_mode="tf_idf", pad_to_max_tokens=True)
    layer.adapt(np.array(["good film", "bad film", "fine plot"] * 3, dtype=object))
    again = _roundtrip(keras.Sequential([keras.Input((), dtype="string"), layer]),
                       np.array(["good plot", "bad"], dtype=object), tmp_path)
    assert again.layers[0].get_vocabulary() == layer.get_vocabulary()  # the short vocabulary came back whole


def test_vocabulary_terms_with_unicode_line_breaks_reload_in_any_mode(tmp_path, on_tensorflow):
    import keras

    for i, (mode, kwargs) in enumerate([("tf_idf", {"ngrams": 2}), ("int", {"output_sequence_length": 6}),
                                        ("multi_hot", {})]):
        layer = keras.layers.TextVectorization(max_tokens=60, output_mode=mode, **kwargs)
        layer.adapt(TEXTS)
        assert any("\x85" in str(t) for t in layer.get_vocabulary())  # the case Keras' file cannot hold
        _roundtrip(keras.Sequential([keras.Input((), dtype="string"), layer]), TEXTS[:6], tmp_path / str(i))


def test_a_trained_text_model_drops_unportable_terms_and_loads_in_plain_keras(tmp_path, on_tensorflow):
    """imdb_text's case: U+0085 in the reviews. The run's model.keras loads in Keras without kerasforge."""
    rng = np.random.default_rng(0)
    for label, words in (("pos", ["great", "superb"]), ("neg", ["awful", "dull"])):
        (tmp_path / "reviews" / label).mkdir(parents=True)
        for i in range(30):
            text = " ".join(rng.choice(["the", "film", "plot"], 6).tolist() + [rng.choice(words) + "\x85", "end"])
            (tmp_path / "reviews" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    run = kerasforge.train({
        "name": "nel", "data": {"dataset": "text_folder", "path": str(tmp_path / "reviews")},
        "model": {"layers": [{"type": "TextVectorization", "max_tokens": 200, "ngrams": 2, "output_mode": "multi_hot",
                              "pad_to_max_tokens": True},
                             {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
        "train": {"epochs": 1, "loss": "binary_crossentropy"}}, output_dir=tmp_path / "runs", show_summary=False)
    vocabulary = run.model.layers[0].get_vocabulary()
    assert "the" in vocabulary and not any("\x85" in str(t) for t in vocabulary)
    code = ("import sys, keras, numpy as np; m = keras.saving.load_model(sys.argv[1]); "
            "print(float(m.predict(np.array(['the film great\\x85 end'], dtype=object), verbose=0)[0, 0]))")
    done = subprocess.run([sys.executable, "-c", code, str(run.path / "model.keras")], capture_output=True,
                          text=True, timeout=120, env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    expected = run.model.predict(np.array(["the film great\x85 end"], dtype=object), verbose=0)[0, 0]
    assert abs(float(done.stdout.split()[-1]) - float(expected)) < 1e-5
