"""Scanned epochs on JAX: the data lives on the device and one compiled call runs many training steps.

Keras' own ``fit`` on JAX dispatches one compiled step per batch (its ``steps_per_execution`` loops over
those calls in Python) and copies every batch from host memory to the device. When the fast path applies
on JAX, kerasforge instead puts the arrays on the device once, reshuffles them there every epoch
(a new permutation per seed and epoch), and runs ``lax.scan`` over the model's own ``train_step`` for a chunk of batches per
call; validation scans ``test_step`` the same way. Callbacks see the sequence ``model.fit`` gives them
(train, epoch and test begin/end; one batch begin/end per chunk), so early stopping, LR schedules,
checkpoints, the history and the progress bar work unchanged.

One difference from ``model.fit``: every training batch is full. The last ``len(x) % batch_size``
examples of each epoch's shuffle are left out of that epoch (a different few every epoch), so that one
compiled step shape serves every batch. Validation sees every example.

Example:
    >>> history = scanned_fit(model, x, y, batch_size=128, epochs=10,          # doctest: +SKIP
    ...                       validation_data=(x_val, y_val), seed=42)
    >>> history.history["val_accuracy"][-1]                                     # doctest: +SKIP
    0.91
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .fastpath import _has_strings

# Steps one compiled call runs on a CPU (GPU: the whole epoch in one call). As with Keras'
# steps_per_execution, more only makes the progress bar coarser; a CPU epoch can take minutes.
CPU_CHUNK_STEPS = 64


@dataclass(frozen=True)
class ScanLayout:
    """How one epoch is cut: ``steps`` full batches of ``batch_size``, ``chunk`` steps per compiled call,
    ``dropped`` examples left out of each epoch."""

    batch_size: int
    steps: int
    chunk: int
    dropped: int

    @property
    def calls(self) -> int:
        """Compiled calls per epoch."""
        return math.ceil(self.steps / self.chunk)


def scan_layout(examples: int, batch_size: int, *, chunk: int | None = None) -> ScanLayout:
    """Cut ``examples`` into full batches and compiled calls (``chunk=None``: the whole epoch in one call).

    >>> scan_layout(54_000, 128, chunk=64)
    ScanLayout(batch_size=128, steps=421, chunk=64, dropped=112)
    >>> scan_layout(50, 128)   # fewer examples than a batch: one batch of all of them
    ScanLayout(batch_size=50, steps=1, chunk=1, dropped=0)
    """
    batch_size = max(1, min(batch_size, examples))
    steps = examples // batch_size
    return ScanLayout(batch_size=batch_size, steps=steps, chunk=max(1, min(chunk or steps, steps)),
                      dropped=examples - steps * batch_size)


def scan_fallback_reason(model: Any, x: Any) -> str | None:
    """Why the scanned loop cannot train ``model`` on ``x`` (``None`` when it can).

    It needs the JAX backend, Keras' own ``train_step``/``test_step`` (a model with its own keeps
    ``model.fit``), numeric arrays, no ``run_eagerly`` and no multi-device distribution.
    """
    import keras

    if keras.backend.backend() != "jax":
        return "scanned epochs need the JAX backend"
    from keras.src.backend.jax.trainer import JAXTrainer

    for name in ("train_step", "test_step"):
        if getattr(type(model), name, None) is not getattr(JAXTrainer, name):
            return f"the model has its own {name}"
    if getattr(model, "run_eagerly", False):
        return "the model runs eagerly"
    if keras.distribution.distribution() is not None:
        return "a multi-device distribution is set"
    if _has_strings(x):
        return "the features are not numeric arrays"
    return None


def plan_scanned_epochs(plan: Any, model: Any, x: Any, spec: Any, *, batch_size: int | None = None) -> bool:
    """Switch a fast-path ``plan`` (see :mod:`kerasforge.training.fastpath`) to scanned epochs when they
    apply: the fast path is on, the backend is JAX with XLA, and :func:`scan_fallback_reason` finds nothing.
    Returns True when it did (and notes why not in the plan otherwise).

    The chunk per compiled call is the whole epoch on a GPU, ``CPU_CHUNK_STEPS`` on a CPU, or the recipe's
    ``steps_per_execution`` when it gives one.
    """
    if not plan.applies or plan.backend != "jax" or plan.jit_compile is False:
        return False
    why = scan_fallback_reason(model, x)
    if why:
        plan.notes.append(f"Keras' own loop ({why})")
        return False
    if spec.steps_per_execution != 1:
        chunk: int | None = spec.steps_per_execution
    else:
        chunk = None if plan.accelerator == "gpu" else CPU_CHUNK_STEPS
    layout = scan_layout(_length(x), batch_size or spec.batch_size, chunk=chunk)
    plan.scanned, plan.scan_chunk = True, (None if layout.chunk == layout.steps else layout.chunk)
    plan.steps_per_execution = layout.chunk
    if layout.dropped:
        plan.notes.append(f"{layout.steps} full batches per epoch (the last {layout.dropped} examples of each "
                          "epoch's shuffle sit that epoch out)")
    return True


def _take(tree: Any, index: Any) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda a: jnp.take(a, index, axis=0), tree)


def _length(tree: Any) -> int:
    import jax

    return int(jax.tree_util.tree_leaves(tree)[0].shape[0])


def _zero_logs(step: Any, *args: Any) -> Any:
    """Zeros shaped like the logs ``step(*args)`` returns first (a scan's initial carry; traced, not run)."""
    import jax

    logs_shape, _ = jax.eval_shape(step, *args)
    return jax.tree_util.tree_map(lambda s: jax.numpy.zeros(s.shape, s.dtype), logs_shape)


def _train_chunk_function(model: Any, chunk: int, masked: bool) -> Any:
    """A compiled ``(state, data, order, start, valid) -> (logs, state)`` running ``chunk`` train steps
    from batch ``start`` of ``order`` (batch index rows); with ``masked``, steps from ``valid`` on are skipped."""
    import jax
    from jax import lax

    def run(state: Any, data: Any, order: Any, start: Any, valid: Any) -> Any:
        def one_step(state: Any, i: Any) -> Any:
            index = lax.dynamic_index_in_dim(order, start + i, keepdims=False)
            return model.train_step(state, _take(data, index))

        def body(carry: Any, i: Any) -> Any:
            state, logs = carry
            if not masked:
                logs, state = one_step(state, i)
                return (state, logs), None

            def step(operands: Any) -> Any:
                new_logs, new_state = one_step(operands[0], i)
                return new_state, new_logs

            return lax.cond(i < valid, step, lambda operands: operands, (state, logs)), None

        (state, logs), _ = lax.scan(body, (state, _zero_logs(one_step, state, 0)), jax.numpy.arange(chunk))
        return logs, state

    return jax.jit(run, donate_argnums=0)


def _evaluate_function(model: Any, batch_size: int) -> Any:
    """A compiled ``(state, data) -> (logs, state)`` running ``test_step`` over every example of ``data``:
    the full batches scanned, then the rest in one more step, all in one program (one compilation)."""
    import jax
    from jax import lax

    def run(state: Any, data: Any) -> Any:
        examples = _length(data)
        full = examples // batch_size
        logs: Any = None
        if full:
            batches = jax.tree_util.tree_map(
                lambda a: a[: full * batch_size].reshape((full, batch_size, *a.shape[1:])), data)

            def body(carry: Any, batch: Any) -> Any:
                logs, state = model.test_step(carry[0], batch)
                return (state, logs), None

            first = jax.tree_util.tree_map(lambda a: a[0], batches)
            (state, logs), _ = lax.scan(body, (state, _zero_logs(model.test_step, state, first)), batches)
        if examples > full * batch_size:
            logs, state = model.test_step(state, jax.tree_util.tree_map(lambda a: a[full * batch_size:], data))
        return logs, state

    return jax.jit(run)


class ScannedTrainer:
    """Trains one compiled Keras model with scanned epochs; keeps its compiled functions between fits.

    >>> trainer = ScannedTrainer(model)                                        # doctest: +SKIP
    >>> trainer.fit(x, y, batch_size=128, epochs=10, validation_data=(xv, yv))  # doctest: +SKIP
    """

    def __init__(self, model: Any, *, chunk: int | None = None) -> None:
        self.model = model
        self.chunk = chunk
        self._train_functions: dict[tuple[int, bool], Any] = {}
        self._evaluate_functions: dict[int, Any] = {}
        self._device_data: dict[tuple, Any] = {}

    # -- data -------------------------------------------------------------------------------------
    def _on_device(self, *arrays: Any) -> Any:
        """The arrays as device arrays, sent once: a later fit or evaluation of the same arrays (the
        validation set every epoch, a retry after running out of memory) reuses the device copy."""
        import jax

        key = tuple(id(a) for a in arrays)
        cached = self._device_data.get(key)
        if cached is None or any(c is not a for c, a in zip(cached[0], arrays, strict=True)):
            cached = self._device_data[key] = (arrays, jax.device_put(arrays))
        return cached[1]

    # -- training ---------------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, *, batch_size: int, epochs: int, initial_epoch: int = 0,
            validation_data: tuple | None = None, shuffle: bool = True, class_weight: dict | None = None,
            callbacks: list | None = None, verbose: Any = "auto", seed: int = 0) -> Any:
        """Like ``model.fit`` for in-memory arrays; returns the Keras ``History``."""
        import jax
        import numpy as np
        from keras.src import callbacks as callbacks_module
        from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights

        model = self.model
        sample_weight = None
        if class_weight:
            sample_weight = np.asarray(class_weight_to_sample_weights(np.asarray(y), class_weight), "float32")
        examples = _length(x)
        layout = scan_layout(examples, batch_size, chunk=self.chunk)
        data = (*self._on_device(x, y), None if sample_weight is None else jax.device_put(sample_weight))
        probe = tuple(None if a is None else jax.tree_util.tree_map(lambda v: np.asarray(v[:layout.batch_size]), a)
                      for a in (x, y, sample_weight))
        model._symbolic_build(data_batch=probe)
        if not isinstance(callbacks, callbacks_module.CallbackList):
            callbacks = callbacks_module.CallbackList(
                callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
                steps=layout.steps, model=model)
        masked = layout.steps % layout.chunk != 0
        train_chunk = self._train_functions.get((layout.chunk, masked))
        if train_chunk is None:
            train_chunk = self._train_functions[(layout.chunk, masked)] = _train_chunk_function(
                model, layout.chunk, masked)

        model.stop_training = False
        training_logs: dict = {}
        finished = False
        callbacks.on_train_begin()
        initial_epoch = getattr(model, "_initial_epoch", None) or initial_epoch
        logs: Any = {}
        try:
            for epoch in range(initial_epoch, epochs):
                model.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                model._jax_state_synced = True
                order = jax.device_put(epoch_order(seed, epoch, examples, layout, shuffle=bool(shuffle)))
                for start in range(0, layout.steps, layout.chunk):
                    callbacks.on_train_batch_begin(start)
                    if model._jax_state_synced:  # first call of the epoch, or a callback synced the model
                        state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                                     optimizer_variables=True, metrics_variables=True,
                                                     purge_model_variables=True)
                        model._jax_state_synced = False
                    valid = min(layout.chunk, layout.steps - start)
                    logs, state = train_chunk(state, data, order, start, valid)
                    model._jax_state = dict(zip(("trainable_variables", "non_trainable_variables",
                                                 "optimizer_variables", "metrics_variables"), state, strict=True))
                    callbacks.on_train_batch_end(start + valid - 1, logs)
                    if model.stop_training:
                        break
                model.jax_state_sync()
                epoch_logs = dict(model._get_metrics_result_or_logs(logs))
                if validation_data is not None:
                    val_x, val_y = validation_data[0], validation_data[1]
                    val_logs = self.evaluate(val_x, val_y, batch_size=layout.batch_size, callbacks=callbacks)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if model.stop_training:
                    break
            finished = True
        finally:
            model.jax_state_sync()
            if epochs > 0 and hasattr(model.optimizer, "finalize_variable_values"):
                model.optimizer.finalize_variable_values(model.trainable_weights)
            if finished:
                callbacks.on_train_end(logs=training_logs)
            model._jax_state = None
        return model.history

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, *, batch_size: int, callbacks: Any = None) -> dict[str, float]:
        """``model.evaluate(x, y, return_dict=True)`` with full batches scanned on the device and the
        remaining examples in one more step."""
        from keras.src.utils.python_utils import pythonify_logs

        model = self.model
        data = self._on_device(x, y)
        batch_size = max(1, min(batch_size, _length(data)))
        if callbacks is not None:
            callbacks.on_test_begin()
        model.reset_metrics()
        model._jax_state_synced = True
        state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                     metrics_variables=True, purge_model_variables=True)
        model._jax_state_synced = False
        evaluate = self._evaluate_functions.get(batch_size)
        if evaluate is None:
            evaluate = self._evaluate_functions[batch_size] = _evaluate_function(model, batch_size)
        logs, state = evaluate(state, data)
        model._jax_state = dict(zip(("trainable_variables", "non_trainable_variables", "metrics_variables"),
                                    state, strict=True))
        model.jax_state_sync()
        model._jax_state = None
        logs = pythonify_logs(model._get_metrics_result_or_logs(logs))
        if callbacks is not None:
            callbacks.on_test_end(logs)
        return logs


def epoch_order(seed: int, epoch: int, examples: int, layout: ScanLayout, *, shuffle: bool = True) -> Any:
    """The batch index rows of one epoch: ``layout.steps`` rows of ``layout.batch_size`` example indices,
    a fresh permutation per (seed, epoch) — so a resumed run sees the same batches it would have seen.

    >>> epoch_order(0, 0, 10, scan_layout(10, 4), shuffle=False).tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    """
    import numpy as np

    indices = np.random.default_rng([seed, epoch]).permutation(examples) if shuffle else np.arange(examples)
    return indices[: layout.steps * layout.batch_size].reshape(layout.steps, layout.batch_size).astype("int32")
