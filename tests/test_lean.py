"""A run on JAX imports neither TensorFlow nor the libraries Keras only offers extras for (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

PROBE = """
import json, sys
from pathlib import Path
from kerasforge.backend import configure_backend, set_random_seed
configure_backend("jax")
set_random_seed(1)
import keras
from kerasforge.lifecycle import save_run_files
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
save_run_files(model, Path(sys.argv[1]), ["keras"], {"test_accuracy": 1.0})
seen = {m: m in sys.modules for m in ("tensorflow", "pandas", "matplotlib")}
import sklearn, matplotlib.pyplot  # still importable afterwards, for the report
print(json.dumps(seen))
"""


def test_a_jax_run_seeds_and_saves_without_tensorflow_and_imports_keras_without_extras(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"tensorflow": False, "pandas": False,
                                                                "matplotlib": False}
    assert (tmp_path / "model.keras").is_file()


def test_lean_imports_can_be_turned_off(tmp_path):
    probe = ("from kerasforge.backend import configure_backend; configure_backend('jax'); import sys; "
             "print('sklearn' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "KFORGE_LEAN_IMPORTS": "0"}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "True"  # Keras imported everything it offers, as without kerasforge
