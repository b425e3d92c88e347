"""A loss written with tf.* ops beside a dense recipe (which `auto` would train on JAX) picks TensorFlow; an
explicit other backend is a clear error before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kerasforge.code_backend import backend_for_code, requested_backend
from kerasforge.errors import RecipeError
from kerasforge.recipe import load_recipe

SRC = Path(__file__).resolve().parents[1] / "src"
LOSS = '''import tensorflow as tf


def loss(y_true, y_pred):
    y_true = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), 10)
    return tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y_true, y_pred))
'''


def _recipe(tmp_path: Path, backend: str = "auto") -> Path:
    module = "tf_losses_" + tmp_path.name[-6:].replace("-", "_")
    (tmp_path / f"{module}.py").write_text(LOSS)
    recipe = {"backend": backend, "data": {"dataset": "digits", "subset": 200},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"epochs": 1, "loss": f"{module}:loss"}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return tmp_path / "recipe.yaml"


def test_the_code_backend_is_found_without_importing(tmp_path):
    path = _recipe(tmp_path)
    recipe = load_recipe(path)
    found = backend_for_code(recipe, [tmp_path])
    assert found is not None and found[0] == "tensorflow" and found[2].parent == tmp_path


def test_explicit_other_backend_is_refused(tmp_path):
    from kerasforge.references import add_to_path

    recipe = load_recipe(_recipe(tmp_path, backend="jax"))
    add_to_path(tmp_path)
    try:
        with pytest.raises(RecipeError, match="imports tensorflow"):
            requested_backend(recipe)
    finally:
        sys.path.remove(str(tmp_path.resolve()))


@pytest.mark.slow
def test_a_dense_recipe_with_a_tf_loss_trains_on_tensorflow(tmp_path):
    path = _recipe(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=str(SRC), KFORGE_NO_TRACK="1")
    done = subprocess.run([sys.executable, "-m", "kerasforge.cli", "train", str(path), "-q", "--output",
                           str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    env_json = json.loads(next((tmp_path / "runs").glob("recipe-*/env.json")).read_text())
    assert env_json["backend"] == "tensorflow"


def test_raw_text_models_ask_for_tensorflow() -> None:
    """A GPU machine's default (JAX) cannot run TextVectorization inside the model: text recipes ask for
    TensorFlow, and an explicit other backend is refused before anything is loaded."""
    assert requested_backend(load_recipe("imdb_text")) == "tensorflow"
    assert requested_backend(load_recipe("imdb_lstm", ["backend=jax"])) == "jax"  # word ids run anywhere
    with pytest.raises(RecipeError, match="only the tensorflow backend") as err:
        requested_backend(load_recipe("imdb_text", ["backend=jax"]))
    assert err.value.where == "backend"
