"""Compiled versus eager execution: the same training, run step by step in Python or compiled to a graph.

run_eagerly=True runs every step as plain Python (easy to debug, slow); the default compiles the step
(tf.function on TensorFlow, jax.jit on JAX); jit_compile=True adds XLA. Times are printed, not promised:
they depend on the machine. Run: python examples/04_compiled_vs_eager.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import time  # noqa: E402

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target


def train_once(**compile_options) -> tuple[float, float]:
    """Seconds for 3 epochs, and the final training accuracy, for one execution mode."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_options)
    start = time.perf_counter()
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return time.perf_counter() - start, history.history["accuracy"][-1]


modes = {"eager (run_eagerly=True)": {"run_eagerly": True},
         "compiled (default)": {"jit_compile": False},
         "compiled + XLA (jit_compile=True)": {"jit_compile": True}}
print(f"backend: {keras.backend.backend()}; 3 epochs of a small MLP on 1,797 digits")
for label, options in modes.items():
    seconds, accuracy = train_once(**options)
    print(f"{label:36s} {seconds:6.2f} s   train accuracy {accuracy:.3f}")
print("ok: execution modes (the first compiled call includes the time to compile)")
