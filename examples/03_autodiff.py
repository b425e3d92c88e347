"""Automatic differentiation: the gradient of a loss with respect to weights, on each backend.

Keras 3 leaves gradients to the backend: TensorFlow records operations on a GradientTape, JAX transforms a
function with jax.grad. Both functions are here; the one for the active backend runs.
Run: python examples/03_autodiff.py   (KERAS_BACKEND=jax python ... on a machine with JAX)
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def loss_fn(w, x, y):
    """Mean squared error of the linear model y ~ x * w (written with keras.ops, so any backend runs it)."""
    return keras.ops.mean(keras.ops.square(x * w - y))


def gradient_tensorflow(w0: float, x, y) -> float:
    """d loss / d w with TensorFlow's GradientTape: operations on watched variables are recorded."""
    import tensorflow as tf

    w = tf.Variable(w0)
    with tf.GradientTape() as tape:
        loss = loss_fn(w, x, y)
    return float(tape.gradient(loss, w))


def gradient_jax(w0: float, x, y) -> float:
    """d loss / d w with JAX: jax.grad turns the loss function into its gradient function."""
    import jax

    return float(jax.grad(loss_fn)(w0, x, y))


x = np.array([1.0, 2.0, 3.0], dtype="float32")
y = 2.0 * x                     # the true weight is 2
w0 = 0.5
# By hand: loss = mean((w x - y)^2), d/dw = mean(2 x (w x - y)) = 2 (w - 2) mean(x^2)
by_hand = 2 * (w0 - 2.0) * float(np.mean(x**2))

backend = keras.backend.backend()
compute = {"tensorflow": gradient_tensorflow, "jax": gradient_jax}.get(backend)
if compute is None:
    raise SystemExit(f"this example shows TensorFlow and JAX; the active backend is {backend}")
grad = compute(w0, x, y)
print(f"backend: {backend}")
print(f"gradient at w={w0}: {grad:.4f} (by hand: {by_hand:.4f})")
assert abs(grad - by_hand) < 1e-4

# Gradient descent with that gradient walks w to the true value 2.
w = w0
for _ in range(50):
    w -= 0.05 * compute(w, x, y)
print(f"after 50 steps of gradient descent: w = {w:.4f}")
print("ok: autodiff")
