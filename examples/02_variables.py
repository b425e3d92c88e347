"""Variables: tensors that keep their value between steps and can be changed in place.

Model weights are variables; an optimizer updates them with assign. Run: python examples/02_variables.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import ops  # noqa: E402

# A variable is created from an initial value (or an initializer and a shape).
w = keras.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
bias = keras.Variable(initializer="zeros", shape=(2,), name="bias")
print("w =", ops.convert_to_numpy(w).tolist(), "| bias =", ops.convert_to_numpy(bias).tolist())

# assign replaces the value; assign_add / assign_sub change it by an amount (a gradient step does this).
w.assign(ops.ones((2, 2)))
bias.assign_add([0.5, -0.5])
w.assign_sub(0.1 * ops.ones((2, 2)))
print("after assign / assign_sub:", ops.convert_to_numpy(w).tolist())
print("after assign_add:", ops.convert_to_numpy(bias).tolist())

# Variables take part in ops like tensors.
x = ops.convert_to_tensor([[1.0, 1.0]])
print("x @ w + bias =", ops.convert_to_numpy(ops.matmul(x, w) + bias).tolist())

# A layer's weights are variables; trainable ones are what the optimizer changes.
layer = keras.layers.Dense(3)
layer.build((None, 2))
print("Dense(3) variables:", [(v.path, tuple(v.shape), v.trainable) for v in layer.weights])

# A non-trainable variable (like BatchNormalization's running mean) is left alone by optimizers.
counter = keras.Variable(0, dtype="int32", trainable=False, name="counter")
for _ in range(3):
    counter.assign_add(1)
print("counter:", int(ops.convert_to_numpy(counter)), "trainable:", counter.trainable)
print("ok: variables")
