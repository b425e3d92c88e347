"""Backend choice: TensorFlow on CPU-only machines, JAX with a GPU, unless told otherwise."""

from __future__ import annotations

import pytest

from kerasforge import backend
from kerasforge.errors import KerasforgeError


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)


def test_cpu_machine_prefers_tensorflow(no_env, monkeypatch):
    monkeypatch.setattr(backend, "gpu_present", lambda: False)
    monkeypatch.setattr(backend, "installed", lambda name: name in ("tensorflow", "jax"))
    assert backend.pick_backend("auto") == "tensorflow"


def test_dense_networks_prefer_jax_on_a_cpu_machine_when_it_is_installed(no_env, monkeypatch):
    from kerasforge.recipe import load_recipe

    monkeypatch.setattr(backend, "gpu_present", lambda: False)
    monkeypatch.setattr(backend, "installed", lambda name: name in ("tensorflow", "jax"))
    assert backend.dense_only(load_recipe("fashion_mnist_mlp").model)
    assert backend.dense_only(load_recipe("multi_input").model)  # functional, Concatenate included
    assert not backend.dense_only(load_recipe("fashion_mnist_cnn").model)
    assert not backend.dense_only(load_recipe("imdb_lstm").model)
    assert not backend.dense_only(load_recipe("custom_train_step").model)  # a Python model: no layer list
    assert backend.pick_backend("auto", dense=True) == "jax"
    assert backend.pick_backend("auto", dense=False) == "tensorflow"
    assert backend.pick_backend("tensorflow", dense=True) == "tensorflow"  # the recipe's choice wins
    monkeypatch.setattr(backend, "installed", lambda name: name == "tensorflow")
    assert backend.pick_backend("auto", dense=True) == "tensorflow"  # no JAX: TensorFlow still trains it


def test_gpu_machine_prefers_jax(no_env, monkeypatch):
    monkeypatch.setattr(backend, "gpu_present", lambda: True)
    monkeypatch.setattr(backend, "installed", lambda name: name in ("tensorflow", "jax", "torch"))
    assert backend.pick_backend("auto") == "jax"
    monkeypatch.setattr(backend, "installed", lambda name: name == "torch")  # GPU machine without JAX
    assert backend.pick_backend("auto") == "torch"


def test_environment_variable_and_recipe_win(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(backend, "gpu_present", lambda: False)
    assert backend.pick_backend("auto") == "jax"
    monkeypatch.setattr(backend, "installed", lambda name: True)
    assert backend.pick_backend("torch") == "torch"


def test_missing_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "installed", lambda name: False)
    with pytest.raises(KerasforgeError, match="not installed"):
        backend.pick_backend("jax")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(KerasforgeError, match="no Keras backend"):
        backend.pick_backend("auto")


def test_this_machine_reports_its_environment():
    backend.configure_backend("auto")
    info = backend.describe_environment()
    assert info["backend"] in backend.BACKENDS and info["devices"]
