"""A custom training loop: batches, forward pass, loss, gradients, optimizer step and metrics written out
by hand - what model.fit does for you. The gradient is the backend's own (TensorFlow's GradientTape or
jax.value_and_grad); the rest is backend-neutral Keras.

Run: python examples/06_custom_training_loop.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

keras.utils.set_random_seed(0)
digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split((digits.data / 16.0).astype("float32"), digits.target,
                                                    test_size=0.25, random_state=0, stratify=digits.target)

model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
loss_fn = keras.losses.SparseCategoricalCrossentropy()
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
optimizer.build(model.trainable_variables)
accuracy = keras.metrics.SparseCategoricalAccuracy()


def tensorflow_step(xb, yb) -> float:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(yb, model(xb, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    return float(loss)


def jax_step(xb, yb) -> float:
    # JAX differentiates pure functions: run the model statelessly on the weights' values, then write the
    # updated values back into the variables.
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def compute_loss(trainable):
        y_pred, _ = model.stateless_call(trainable, non_trainable, xb, training=True)
        return loss_fn(yb, y_pred)

    loss, grads = jax.value_and_grad(compute_loss)(trainable)
    optimizer.apply(grads, model.trainable_variables)
    return float(loss)


step = {"tensorflow": tensorflow_step, "jax": jax_step}[keras.backend.backend()]
batch_size = 32
rng = np.random.default_rng(0)
for epoch in range(1, 11):
    order = rng.permutation(len(x_train))                         # shuffle every epoch
    losses = []
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        losses.append(step(x_train[batch], y_train[batch]))
    accuracy.reset_state()
    accuracy.update_state(y_test, model(x_test, training=False))
    if epoch in (1, 5, 10):
        print(f"epoch {epoch:2d}: mean loss {np.mean(losses):.4f}, test accuracy {float(accuracy.result()):.3f}")
final = float(accuracy.result())
assert final > 0.9, final
print("ok: custom training loop")
