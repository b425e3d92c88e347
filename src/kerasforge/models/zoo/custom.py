"""A subclassed ``keras.Model`` that writes its own training step, with gradient clipping inside it.

:class:`ClippedClassifier` is the "custom training" program of the tutorials in Keras 3 form: ``call``
defines the network, ``train_step`` computes the loss, takes the gradients (the one part each backend
does its own way), rescales them so that their global L2 norm is at most ``clip_norm``, and applies
them. Everything but the gradient is written once with ``keras.ops``. Besides the loss and compiled
metrics it reports ``grad_norm``: the norm before clipping, to see how often clipping bites.

Example:
    >>> model = ClippedClassifier(num_classes=10, hidden=(64,), clip_norm=1.0)   # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ...                                                                          # doctest: +SKIP
    >>> model.fit(x, y, epochs=1).history["grad_norm"]                         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def global_norm(tensors: Sequence) -> object:
    """The L2 norm of all ``tensors`` taken together.

    >>> float(global_norm([ops.ones((3,)), ops.ones((1,))]))   # doctest: +SKIP
    2.0
    """
    return ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(t)) for t in tensors])))


def clip_gradients(grads: Sequence, clip_norm: float) -> tuple[list, object]:
    """``grads`` scaled down together so their global norm is at most ``clip_norm``; also the norm before."""
    norm = global_norm(grads)
    factor = clip_norm / ops.maximum(norm, clip_norm)  # 1 when already short enough
    return [g * ops.cast(factor, g.dtype) for g in grads], norm


@keras.saving.register_keras_serializable(package="kerasforge.zoo")
class ClippedClassifier(keras.Model):
    """Flatten → Dense(relu) for each size in ``hidden`` (with optional dropout) → Dense(softmax)."""

    def __init__(self, num_classes: int, hidden: Sequence[int] = (128, 64), dropout: float = 0.0,
                 clip_norm: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.hidden = int(num_classes), [int(h) for h in hidden]
        self.dropout, self.clip_norm = float(dropout), float(clip_norm)
        self.flatten = keras.layers.Flatten()
        self.blocks = [keras.layers.Dense(units, activation="relu") for units in self.hidden]
        self.drops = [keras.layers.Dropout(self.dropout) for _ in self.hidden]
        self.head = keras.layers.Dense(self.num_classes, activation="softmax")
        self.grad_norm = keras.metrics.Mean(name="grad_norm")

    def call(self, inputs, training=False):
        x = self.flatten(inputs)
        for dense, drop in zip(self.blocks, self.drops, strict=True):
            x = drop(dense(x), training=training)
        return self.head(x)

    # --- training --------------------------------------------------------------------------------------
    def train_step(self, *args):
        """One optimisation step; the gradient is taken the way the active backend does it."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_step(*args)
        if backend == "torch":
            return self._torch_step(*args)
        return self._tensorflow_step(*args)

    def _tensorflow_step(self, data):
        import tensorflow as tf

        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weight, training=True)
        grads, norm = clip_gradients(tape.gradient(loss, self.trainable_variables), self.clip_norm)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._log(loss, norm, y, y_pred, weight)

    def _torch_step(self, data):
        import torch

        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weight, training=True)
        loss.backward()
        with torch.no_grad():
            grads, norm = clip_gradients([v.value.grad for v in self.trainable_weights], self.clip_norm)
            self.optimizer.apply(grads, self.trainable_weights)
        return self._log(loss, norm, y, y_pred, weight)

    def _log(self, loss, norm, y, y_pred, weight) -> dict:
        for metric in self.metrics:
            if metric is self.grad_norm:
                metric.update_state(norm)
            elif metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, weight)
        return self.get_metrics_result()

    def _jax_step(self, state, data):
        # JAX is functional: the step receives the variables' values and returns the new ones.
        import jax

        trainable, non_trainable, optimizer_vars, metric_vars = state
        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)

        def loss_of(trainable_values, non_trainable_values):
            y_pred, non_trainable_values = self.stateless_call(trainable_values, non_trainable_values, x,
                                                               training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weight, training=True)
            return loss, (y_pred, non_trainable_values)

        (loss, (y_pred, non_trainable)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable)
        grads, norm = clip_gradients(grads, self.clip_norm)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        logs, new_metric_vars, used = {}, [], 0
        for metric in self.metrics:
            own = metric_vars[used:used + len(metric.variables)]
            used += len(metric.variables)
            if metric is self.grad_norm:
                own = metric.stateless_update_state(own, norm)
            elif metric.name == "loss":
                own = metric.stateless_update_state(own, loss)
            else:
                own = metric.stateless_update_state(own, y, y_pred, weight)
            logs[metric.name] = metric.stateless_result(own)
            new_metric_vars += list(own)
        return logs, (trainable, non_trainable, optimizer_vars, new_metric_vars)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Evaluation's logs (Keras' test_step on every backend): no ``grad_norm`` — evaluation takes no
        gradient, so a ``val_grad_norm``/``test_grad_norm`` would only be a meaningless 0."""
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        return {name: value for name, value in logs.items() if name != self.grad_norm.name}

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "hidden": self.hidden,
                "dropout": self.dropout, "clip_norm": self.clip_norm}
