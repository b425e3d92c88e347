"""Tensors and keras.ops: the NumPy-like functions that run on every Keras backend.

Run: python examples/01_tensors_and_ops.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

print("backend:", keras.backend.backend())

# A tensor is an n-dimensional array with a shape and a dtype. keras.ops builds them on the active
# backend (a tf.Tensor, a jax.Array or a torch.Tensor) and works the same way on each.
a = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
b = ops.ones((2, 2))
print("a.shape:", tuple(a.shape), "dtype:", a.dtype)

# Element-wise arithmetic and broadcasting: a (2, 2) matrix plus a (2,) row adds the row to every line.
print("a + b =", ops.convert_to_numpy(a + b).tolist())
print("a + [10, 20] =", ops.convert_to_numpy(a + ops.convert_to_tensor([10.0, 20.0])).tolist())

# Matrix product, reductions along an axis, reshaping.
print("a @ a =", ops.convert_to_numpy(ops.matmul(a, a)).tolist())
print("sum over rows:", ops.convert_to_numpy(ops.sum(a, axis=0)).tolist())
print("mean:", float(ops.mean(a)))
print("reshaped to (4,):", ops.convert_to_numpy(ops.reshape(a, (4,))).tolist())

# Activations are ops too: softmax turns scores into probabilities that sum to one.
probs = ops.softmax(ops.convert_to_tensor([2.0, 1.0, 0.1]))
print("softmax:", np.round(ops.convert_to_numpy(probs), 3).tolist(), "sum:", round(float(ops.sum(probs)), 6))

# Tensors convert back to NumPy whenever you need plain arrays.
assert isinstance(ops.convert_to_numpy(a), np.ndarray)
print("ok: tensors and ops")
