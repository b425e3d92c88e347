"""Guards around ``model.fit``: stop cleanly on a non-finite loss, and retry out-of-memory with half the batch.

Out-of-memory errors are recognised by class name and message, so no framework import is needed:
TensorFlow's ``ResourceExhaustedError``, JAX's ``XlaRuntimeError`` with ``RESOURCE_EXHAUSTED``, and
torch's ``OutOfMemoryError``.

Example:
    >>> guard = NonFiniteLossGuard()                         # doctest: +SKIP
    >>> model.fit(x, y, callbacks=[guard])                   # doctest: +SKIP
    >>> guard.stopped                                        # doctest: +SKIP
    {'reason': 'non_finite_loss', 'epoch': 3, 'batch': 17, 'loss': 'nan'}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

OOM_CLASS_NAMES = {"ResourceExhaustedError", "OutOfMemoryError"}
OOM_MESSAGES = ("RESOURCE_EXHAUSTED", "out of memory", "OOM when allocating")


def is_out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is a backend's out-of-memory error.

    >>> is_out_of_memory(MemoryError("x")), is_out_of_memory(ValueError("shapes differ"))
    (True, False)
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = {cls.__name__ for cls in type(current).__mro__}
        if names & OOM_CLASS_NAMES or isinstance(current, MemoryError):
            return True
        message = str(current).lower()
        if names & {"XlaRuntimeError", "RuntimeError", "InternalError"} and any(
                m.lower() in message for m in OOM_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def fit_with_oom_retry(fit: Callable[[int], Any], batch_size: int, *, min_batch_size: int = 1,
                       on_retry: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Call ``fit(batch_size)``; on out-of-memory, halve the batch size and call it again.

    Returns the retries (``[{"batch_size": 256, "new_batch_size": 128, "error": "..."}]``); gives up
    (re-raises) when the batch size would fall below ``min_batch_size``. At most log2(batch_size) tries.

    >>> fit_with_oom_retry(lambda bs: None, 64)
    []
    """
    retries: list[dict[str, Any]] = []
    while True:
        try:
            fit(batch_size)
            return retries
        except Exception as exc:
            new = batch_size // 2
            if not is_out_of_memory(exc) or new < max(1, min_batch_size):
                raise
            retry = {"batch_size": batch_size, "new_batch_size": new,
                     "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]}
            retries.append(retry)
            if on_retry is not None:
                on_retry(retry)
            batch_size = new


def NonFiniteLossGuard():  # noqa: N802 - a factory that reads like the Keras class it returns
    """A Keras callback that stops training at the first batch whose loss is NaN or infinite.

    Unlike ``keras.callbacks.TerminateOnNaN`` it records where: ``guard.stopped`` becomes
    ``{"reason": "non_finite_loss", "epoch": 3, "batch": 17, "loss": "nan"}`` (epochs count from 1).
    """
    import keras

    class _NonFiniteLossGuard(keras.callbacks.Callback):
        fast_path_safe = True  # with several steps per call it checks each call's last loss

        def __init__(self) -> None:
            super().__init__()
            self.stopped: dict[str, Any] | None = None
            self._epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is None or self.stopped is not None:
                return
            value = float(keras.ops.convert_to_numpy(loss))
            if not math.isfinite(value):
                self.stopped = {"reason": "non_finite_loss", "epoch": self._epoch, "batch": batch + 1,
                                "loss": str(value)}
                self.model.stop_training = True

    return _NonFiniteLossGuard()
