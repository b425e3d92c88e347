"""The training fast path: many steps per compiled call, the right XLA choice per backend, and epoch timings.

Small models spend most of a classic ``model.fit`` in Python: one round trip (callbacks, progress bar,
logs) per batch. When the fast path applies, kerasforge runs ``steps_per_execution`` batches per compiled
call, picks ``jit_compile`` per backend from measurements (XLA on JAX and on GPUs; TensorFlow's own
kernels on a CPU, where XLA's convolutions and small matmuls were 1.6-3x slower here). Where it was
measured to pay at the same accuracy, models are built in ``mixed_bfloat16`` (``train.precision: auto``:
GPUs with fast bfloat16; convolutional models under TensorFlow on CPUs with AVX-512 BF16 or AMX), with
their output layers in float32, and turned back into float32 models after training (variables are float32
throughout), so evaluation, saving and export see a plain float32 model. The precision is chosen when the
model is built, before the checks below; only ``train.fast: false`` or an explicit ``train.precision``
turns it off. The fast path applies when

* ``train.fast`` is ``auto`` (the default) or ``true``;
* the features and labels are in-memory arrays whose size (with the backend's own copy) fits
  comfortably in the memory of the device that trains (a quarter of it);
* no callback needs per-batch control: a user callback overriding ``on_train_batch_*``/``on_batch_*``
  (unless it sets ``fast_path_safe = True``), TensorBoard with a batch ``update_freq``, or a
  ModelCheckpoint/BackupAndRestore saving every N batches.

Otherwise training takes the plain path and one line says why; with ``train.fast: true`` a reason not to
apply is an error instead. Settings the recipe gives explicitly (``steps_per_execution`` other than 1,
``jit_compile`` other than ``auto``, ``precision``) are always kept.

Example:
    >>> plan = plan_fast_path(recipe.train, x=x, y=y, callbacks=callbacks, backend="tensorflow")  # doctest: +SKIP
    >>> plan.describe()                                                                           # doctest: +SKIP
    'fast path: 64 steps per call, jit_compile off (tensorflow on CPU), float32'
    >>> apply_fast_path(model, plan)                                                              # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import TrainError
from ..recipe import TrainSpec

# Most batches one compiled call runs. Measured on the 2-core CPU: 32, 64 and 128 are within noise of
# each other and all well ahead of 1; more only makes the progress bar and batch logs coarser.
MAX_STEPS_PER_EXECUTION = 64
# The data (plus the backend's own copy of it) may take at most this share of the training device's memory.
MEMORY_SHARE = 0.25
# mixed_bfloat16 for convolutional models on CPUs with bfloat16 instructions (TensorFlow/oneDNN): see
# benchmarks/RESULTS.md for the side-by-side measurement this rests on.
CPU_BF16_FOR_CONVS = True
BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
# Keras callbacks whose batch hooks only matter with some settings (checked in `batch_control_reason`).
_KERAS_BATCH_AWARE = {"TensorBoard": "update_freq", "ModelCheckpoint": "save_freq", "BackupAndRestore": "save_freq"}
# Keras callbacks with batch hooks that work the same with several steps per call.
_KERAS_BATCH_SAFE = {"ProgbarLogger", "History", "TerminateOnNaN", "CallbackList", "SwapEMAWeights"}


@dataclass
class FastPlan:
    """What the fast path decided for one fit (``applies`` False: the plain path, ``reason`` says why)."""

    applies: bool
    reason: str
    backend: str
    accelerator: str = "cpu"
    steps_per_execution: int = 1
    jit_compile: bool | str = "auto"
    precision: str = "float32"
    data_bytes: int = 0
    memory_bytes: int | None = None
    scanned: bool = False
    scan_chunk: int | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the console: what the fast path did, or why it fell back."""
        if not self.applies:
            return f"fast path off: {self.reason}"
        jit = {True: "on", False: "off"}.get(self.jit_compile, str(self.jit_compile))  # type: ignore[arg-type]
        if self.scanned:
            calls = "the whole epoch" if self.scan_chunk is None else f"{self.scan_chunk} steps"
            text = (f"fast path: data on the {self.accelerator.upper()}, scanned epochs ({calls} per call, XLA, "
                    f"{self.backend}), {self.precision}")
            return text + "".join(f"; {note}" for note in self.notes)
        text = (f"fast path: {self.steps_per_execution} steps per call, jit_compile {jit} "
                f"({self.backend} on {self.accelerator.upper() if self.accelerator != 'cpu' else 'CPU'}), "
                f"{self.precision}")
        return text + "".join(f"; {note}" for note in self.notes)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, for ``run.json``."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------------
# per-backend facts (the one place in this module that knows about TensorFlow, JAX and PyTorch)
# ---------------------------------------------------------------------------------------------------
def accelerator_kind(backend: str) -> str:
    """``"gpu"`` when the backend trains on a GPU here, else ``"cpu"`` (no framework is imported
    beyond the one already in use)."""
    try:
        if backend == "jax":
            import jax

            return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
    except Exception:  # asking must never break training
        return "cpu"
    return "cpu"


def best_jit_compile(backend: str, accelerator: str) -> bool:
    """XLA or not, per backend and device, as measured (see the module docstring).

    >>> best_jit_compile("jax", "cpu"), best_jit_compile("tensorflow", "cpu")
    (True, False)
    """
    if backend == "jax":
        return True  # JAX without jit is op-by-op: far slower everywhere
    if backend == "tensorflow":
        return accelerator == "gpu"
    return False  # torch: Keras' jit_compile means torch.compile, a long compile for small models


def device_memory_bytes(backend: str, accelerator: str) -> int | None:
    """Memory of the device that trains: the GPU's when there is one, else the host's available memory."""
    if accelerator == "gpu":
        try:
            if backend == "jax":
                import jax

                stats = jax.devices()[0].memory_stats() or {}
                return int(stats.get("bytes_limit") or 0) or None
            if backend == "torch":
                import torch

                return int(torch.cuda.get_device_properties(0).total_memory)
        except Exception:
            return None
        return None
    return host_available_bytes()


def host_available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (else total physical memory; ``None`` when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cpu_has_bfloat16() -> bool:
    """True when the CPU has bfloat16 dot-product instructions (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def supports_bfloat16(backend: str, accelerator: str) -> bool:
    """True on GPUs with fast bfloat16 (compute capability 8.0 and later), and on CPUs with bfloat16
    instructions under TensorFlow (oneDNN) when ``CPU_BF16_FOR_CONVS`` says it pays."""
    if accelerator != "gpu":
        return backend == "tensorflow" and cpu_has_bfloat16()
    try:
        if backend == "jax":
            import jax

            capability = getattr(jax.devices()[0], "compute_capability", None)
        elif backend == "torch":
            import torch

            capability = "{}.{}".format(*torch.cuda.get_device_capability(0))
        else:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
            capability = ".".join(map(str, details.get("compute_capability", ()) or ()))
        return bool(capability) and float(str(capability).split(".")[0]) >= 8
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------------
# decisions
# ---------------------------------------------------------------------------------------------------
def choose_precision(spec: TrainSpec, backend: str, accelerator: str | None = None, *,
                     convolutional: bool = False) -> str | None:
    """The Keras dtype policy to build the model under (``None``: leave the global policy alone).

    ``precision: auto`` means ``mixed_bfloat16`` with the fast path on a GPU with fast bfloat16, and for
    convolutional models under TensorFlow on CPUs with bfloat16 instructions (AVX-512 BF16/AMX: the
    Fashion-MNIST CNN's epoch 19.4 s -> 11.5 s at the same accuracy, see benchmarks/RESULTS.md); float32
    otherwise.

    >>> from kerasforge.recipe import TrainSpec
    >>> choose_precision(TrainSpec(precision="mixed_bfloat16"), "tensorflow", "cpu")
    'mixed_bfloat16'
    >>> choose_precision(TrainSpec(), "tensorflow", "cpu") is None
    True
    """
    if spec.precision != "auto":
        return spec.precision
    if spec.fast is False:
        return None
    accelerator = accelerator or accelerator_kind(backend)
    if accelerator == "cpu" and not (CPU_BF16_FOR_CONVS and convolutional):
        return None
    return "mixed_bfloat16" if supports_bfloat16(backend, accelerator) else None


def outputs_in_float32(model: Any, policy: str | None) -> None:
    """Under a mixed policy, compute the model's output layers in float32 (softmax probabilities and the
    loss keep full precision, as Keras' mixed-precision guide advises); nothing for other policies."""
    if not policy or not policy.startswith("mixed"):
        return
    try:
        outputs = {id(t) for t in model.outputs}
        layers = [layer for layer in model.layers
                  if any(id(node.output_tensors[0]) in outputs for node in getattr(layer, "_inbound_nodes", [])
                         if getattr(node, "output_tensors", None))]
    except (AttributeError, ValueError, IndexError):
        layers = []
    for layer in layers or model.layers[-1:]:
        layer.dtype_policy = "float32"


def back_to_float32(model: Any) -> bool:
    """After mixed-precision training, make ``model`` a float32 model again (its variables already are):
    evaluation, saving, export and serving then see the same float32 model as a float32 run would give.
    Returns True when something changed.

    >>> back_to_float32(run.model)   # doctest: +SKIP
    True
    """
    changed = False
    layers = model._flatten_layers(include_self=True) if hasattr(model, "_flatten_layers") else [model]
    for layer in layers:
        policy = getattr(getattr(layer, "dtype_policy", None), "name", "")
        if policy.startswith("mixed"):
            layer.dtype_policy = "float32"
            changed = True
    if changed:
        _forget_compiled_functions(model)
    return changed


def _forget_compiled_functions(model: Any) -> None:
    """Drop the model's traced train/test/predict functions so that Keras rebuilds them with new settings."""
    for name in ("train_function", "test_function", "predict_function"):
        if hasattr(model, name):
            setattr(model, name, None)


def is_convolutional(model_spec: Any) -> bool:
    """True when a recipe's model has convolution layers (``Conv1D``/``Conv2D``/``SeparableConv2D``...).

    >>> from kerasforge.recipe import load_recipe
    >>> is_convolutional(load_recipe("fashion_mnist_cnn").model), is_convolutional(load_recipe("digits_mlp").model)
    (True, False)
    """
    layers = getattr(model_spec, "layers", None) or []
    return any("conv" in str(getattr(layer, "type", "")).lower() for layer in layers)


@contextlib.contextmanager
def precision_scope(policy: str | None) -> Iterator[None]:
    """Build layers under ``policy`` and restore the global dtype policy afterwards (layers keep theirs).

    >>> with precision_scope("mixed_bfloat16"):      # doctest: +SKIP
    ...     model = build_model(...)
    """
    if not policy:
        yield
        return
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def data_bytes(*values: Any) -> int | None:
    """Bytes held by in-memory arrays (dicts, lists and tuples of them; ``None`` entries count 0).

    ``None`` when something is not an in-memory array (a generator, a ``tf.data.Dataset``...).

    >>> import numpy as np
    >>> data_bytes(np.zeros((10, 4), "float32"), {"a": np.zeros(10, "int64")}, None)
    240
    """
    total = 0
    for value in values:
        if value is None:
            continue
        if isinstance(value, dict):
            inner = data_bytes(*value.values())
        elif isinstance(value, list | tuple):
            inner = data_bytes(*value)
        else:
            nbytes = getattr(value, "nbytes", None)
            inner = int(nbytes) if nbytes is not None and hasattr(value, "shape") else None
        if inner is None:
            return None
        total += inner
    return total


def batch_control_reason(callback: Any) -> str | None:
    """Why ``callback`` needs per-batch control (``None`` when several steps per call are fine for it).

    >>> import keras                                   # doctest: +SKIP
    >>> batch_control_reason(keras.callbacks.TensorBoard(update_freq=10))   # doctest: +SKIP
    'TensorBoard writes every 10 batches (update_freq)'
    """
    import keras

    name = type(callback).__name__
    if getattr(callback, "fast_path_safe", False):
        return None
    module = type(callback).__module__ or ""
    if module.startswith("keras"):
        if name in _KERAS_BATCH_AWARE:
            setting = _KERAS_BATCH_AWARE[name]
            value = getattr(callback, setting, "epoch")
            if value not in ("epoch", None, 0):
                return f"{name} acts every {value} batches ({setting})"
            return None
        if name in _KERAS_BATCH_SAFE:
            return None
    base = keras.callbacks.Callback
    for hook in BATCH_HOOKS:
        own = getattr(type(callback), hook, None)
        if hook in vars(callback) or (own is not None and own is not getattr(base, hook, None)):
            return f"callback {name} overrides {hook}"  # in its class, or set on it (LambdaCallback)
    return None


def plan_fast_path(spec: TrainSpec, *, x: Any, y: Any, callbacks: list, backend: str | None = None,
                   batch_size: int | None = None, accelerator: str | None = None,
                   memory_bytes: int | None = None, extra_data: tuple = (), precision: str = "float32"
                   ) -> FastPlan:
    """Decide the fast path for one fit of the training arrays ``x``/``y`` with ``callbacks``.

    ``extra_data`` are other arrays that stay in memory during the fit (validation, test); ``precision`` is the
    model's dtype policy (see :func:`choose_precision`, applied when the model is built). ``memory_bytes``
    overrides the device memory found here (tests). Raises :class:`TrainError` when ``spec.fast`` is
    ``True`` but the fast path cannot apply.

    >>> import numpy as np
    >>> from kerasforge.recipe import TrainSpec
    >>> plan = plan_fast_path(TrainSpec(batch_size=32), x=np.zeros((640, 8)), y=np.zeros(640),
    ...                       callbacks=[], backend="tensorflow", accelerator="cpu", memory_bytes=10**9)
    >>> plan.applies, plan.steps_per_execution, plan.jit_compile
    (True, 20, False)
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    accelerator = accelerator or accelerator_kind(backend)
    plan = FastPlan(applies=False, reason="", backend=backend, accelerator=accelerator, precision=precision)
    if spec.fast is False:
        plan.reason = "train.fast is false"
        return plan
    if getattr(spec, "run_eagerly", False):
        if spec.fast is True:
            raise TrainError("train.fast is true but train.run_eagerly is true too", where="train.run_eagerly",
                             fix="Run eagerly (for debugging) with train.fast: auto or false.")
        plan.reason = "train.run_eagerly is true"
        return plan

    reason = _fallback_reason(plan, spec, x, y, callbacks, memory_bytes, extra_data)
    if reason:
        if spec.fast is True:
            raise TrainError(f"train.fast is true but the fast path cannot apply: {reason}", where="train.fast",
                             fix="Set train.fast to auto (falls back by itself) or false, or remove the cause.")
        plan.reason = reason
        return plan

    plan.applies = True
    steps = max(1, math.ceil(_length(x) / (batch_size or spec.batch_size)))
    if spec.steps_per_execution != 1:
        plan.steps_per_execution = spec.steps_per_execution
        plan.notes.append("steps_per_execution as the recipe says")
    else:
        plan.steps_per_execution = min(steps, MAX_STEPS_PER_EXECUTION)
    if spec.jit_compile != "auto":
        plan.jit_compile = spec.jit_compile
        plan.notes.append("jit_compile as the recipe says")
    else:
        plan.jit_compile = best_jit_compile(backend, accelerator) and not _has_strings(x)
    plan.reason = "the data fits in memory and no callback needs per-batch control"
    return plan


def _fallback_reason(plan: FastPlan, spec: TrainSpec, x: Any, y: Any, callbacks: list,
                     memory_bytes: int | None, extra_data: tuple) -> str | None:
    size = data_bytes(x, y, *extra_data)
    if size is None:
        return "the training data is not in-memory arrays"
    plan.data_bytes = size
    for callback in callbacks:
        why = batch_control_reason(callback)
        if why:
            return f"{why}, so it needs per-batch control"
    if spec.fast is True:
        return None  # asked for: no memory estimate stands in the way
    memory = memory_bytes if memory_bytes is not None else device_memory_bytes(plan.backend, plan.accelerator)
    plan.memory_bytes = memory
    if memory is not None and 2 * size > MEMORY_SHARE * memory:  # the arrays plus the backend's copy
        return (f"the data ({size / 2**20:.0f} MiB, twice that with the backend's copy) does not fit "
                f"comfortably in {plan.accelerator.upper()} memory ({memory / 2**20:.0f} MiB)")
    return None


def _length(x: Any) -> int:
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, list | tuple):
        x = x[0]
    return len(x)


def _has_strings(x: Any) -> bool:
    values = x.values() if isinstance(x, dict) else (x if isinstance(x, list | tuple) else [x])
    return any(getattr(getattr(v, "dtype", None), "kind", "") in "OUS" for v in values)


def apply_fast_path(model: Any, plan: FastPlan) -> None:
    """Set the plan's ``steps_per_execution`` and ``jit_compile`` on a compiled model (before its fit).

    Nothing changes when the plan does not apply. The model's compiled train/test/predict functions are
    dropped so that they are rebuilt with the new settings.
    """
    if not plan.applies:
        return
    model.steps_per_execution = plan.steps_per_execution
    if plan.jit_compile != "auto":
        model.jit_compile = plan.jit_compile
    _forget_compiled_functions(model)


# ---------------------------------------------------------------------------------------------------
# timings
# ---------------------------------------------------------------------------------------------------
def EpochTimer():  # noqa: N802 - a factory that reads like the Keras class it returns
    """A Keras callback that adds each epoch's wall time (training plus validation) to its logs as
    ``epoch_time_s`` (so it lands in the history) and keeps them in ``timer.times``.

    Put it first in the callback list, so the history recorders after it see the time.

    >>> timer = EpochTimer()                       # doctest: +SKIP
    >>> model.fit(x, y, epochs=3, callbacks=[timer]); timing_summary(timer.times)   # doctest: +SKIP
    {'first_epoch_s': 2.1, 'steady_epoch_s': 0.9, 'compile_s': 1.2, 'epochs_timed': 3}
    """
    import keras

    class _EpochTimer(keras.callbacks.Callback):
        fast_path_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            elapsed = time.perf_counter() - self._start
            self.times.append(elapsed)
            if logs is not None:
                logs["epoch_time_s"] = elapsed

    return _EpochTimer()


def timing_summary(times: list[float]) -> dict[str, float]:
    """First epoch, steady epoch (median of the later ones) and compile time (their difference).

    With one epoch only, the steady time is unknown and compile time is reported as 0.

    >>> timing_summary([3.0, 1.0, 1.2, 1.1])
    {'first_epoch_s': 3.0, 'steady_epoch_s': 1.1, 'compile_s': 1.9, 'epochs_timed': 4}
    """
    if not times:
        return {}
    first = float(times[0])
    steady = float(statistics.median(times[1:])) if len(times) > 1 else first
    return {"first_epoch_s": round(first, 4), "steady_epoch_s": round(steady, 4),
            "compile_s": round(max(0.0, first - steady), 4), "epochs_timed": len(times)}
