"""Choosing and describing the Keras backend: the one place that knows about TensorFlow, JAX and PyTorch.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so :func:`configure_backend` must run
before anything imports ``keras``. kerasforge's own modules import Keras lazily for that reason.

Rule (unless ``KERAS_BACKEND`` or the recipe's ``backend:`` says otherwise): JAX where a GPU is present;
on CPU-only machines TensorFlow (its convolutions are about 3x faster than XLA's on a small CPU), except
for models made only of dense layers (:func:`dense_only`), which train faster on JAX with scanned epochs
(benchmarks/RESULTS.md); then whatever is installed. A distributed run (``--devices``, ``--num-processes``) always picks JAX, the one
backend Keras' distribution API supports (see :mod:`kerasforge.distribute`).

Example:
    >>> from kerasforge.backend import configure_backend
    >>> configure_backend("auto")   # doctest: +SKIP
    'tensorflow'
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import KerasforgeError

BACKENDS = ("tensorflow", "jax", "torch")


def gpu_present() -> bool:
    """True when an NVIDIA GPU is visible to this process (no framework is imported to find out)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").exists()


def installed(module: str) -> bool:
    """True when ``module`` can be imported (checked without importing it)."""
    return importlib.util.find_spec(module) is not None


# Layer types of the models that JAX trains faster than TensorFlow on a CPU (plain multilayer perceptrons).
DENSE_LAYER_TYPES = frozenset({
    "Flatten", "Dense", "Dropout", "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "Softmax",
    "Reshape", "Rescaling", "GaussianNoise", "Concatenate", "Add", "Average"})


def dense_only(model_spec: object) -> bool:
    """True when a recipe's model is a layer list made only of dense-network layers (``DENSE_LAYER_TYPES``).

    >>> from kerasforge.recipe import load_recipe
    >>> dense_only(load_recipe("mnist_mlp").model), dense_only(load_recipe("mnist_cnn").model)
    (True, False)
    """
    layers = getattr(model_spec, "layers", None)
    if not layers:
        return False
    return all(str(getattr(layer, "type", layer)) in DENSE_LAYER_TYPES for layer in layers)


def pick_backend(requested: str | None = "auto", *, distributed: bool = False, dense: bool = False) -> str:
    """The backend to use for ``requested`` ("auto", "tensorflow", "jax" or "torch").

    ``distributed=True`` (several devices or processes) makes "auto" mean JAX; an explicit other choice
    is kept, and :func:`kerasforge.distribute.configure_distribution` then explains the conflict.
    ``dense=True`` (the model is a dense network, see :func:`dense_only`) makes "auto" prefer JAX on a CPU.
    """
    env = os.environ.get("KERAS_BACKEND")
    if requested in (None, "auto"):
        if env:
            return env
        if distributed:
            if installed("jax"):
                return "jax"
            raise KerasforgeError(
                "training on several devices or processes needs JAX, which is not installed", where="--devices",
                fix="Install it (`pip install jax`, or `pip install jax[cuda12]` on NVIDIA GPUs), or train "
                    "without --devices/--num-processes.")
        if gpu_present():
            preferred: tuple[str, ...] = ("jax", "torch", "tensorflow")
        else:
            preferred = ("jax", "tensorflow", "torch") if dense else ("tensorflow", "jax", "torch")
        for name in preferred:
            if installed(name):
                return name
        raise KerasforgeError(
            "no Keras backend is installed (looked for tensorflow, jax and torch)",
            fix="Install one: `pip install tensorflow-cpu` on a CPU machine or `pip install jax[cuda12]` with a GPU.",
        )
    if requested not in BACKENDS:
        raise KerasforgeError(f"unknown backend {requested!r}", where="backend",
                              fix=f"Use one of: auto, {', '.join(BACKENDS)}.")
    if not installed(requested):
        raise KerasforgeError(f"the {requested} backend is not installed", where="backend",
                              fix=f"Install it (`pip install {requested}`) or set `backend: auto`.")
    return requested


def configure_backend(requested: str | None = "auto", *, distributed: bool = False, dense: bool = False) -> str:
    """Point Keras at the chosen backend before it is imported; returns the backend in use.

    If Keras is already imported with another backend, the one in use is kept and returned
    (Keras cannot switch backends inside one process). ``distributed``, ``dense``: see :func:`pick_backend`.
    """
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    name = pick_backend(requested, distributed=distributed, dense=dense)
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    _import_keras_quietly()
    if name == "jax":
        enable_compilation_cache()
    return name


def compilation_cache_dir() -> Path | None:
    """Where JAX keeps compiled programs between processes: ``$KFORGE_COMPILE_CACHE`` (``off`` or ``0``
    turns the cache off), else ``$XDG_CACHE_HOME/kerasforge/jax`` (``~/.cache/kerasforge/jax``).

    >>> import os; os.environ["KFORGE_COMPILE_CACHE"] = "off"; compilation_cache_dir() is None
    True
    >>> del os.environ["KFORGE_COMPILE_CACHE"]
    """
    setting = os.environ.get("KFORGE_COMPILE_CACHE", "").strip()
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kerasforge" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache (see :func:`compilation_cache_dir`), so a second run of
    the same model on the same machine skips XLA compilation. Returns the folder, or ``None`` when the
    cache is off, JAX is not importable or the folder cannot be created (training goes on uncached)."""
    folder = compilation_cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        import jax

        if jax.config.jax_compilation_cache_dir:  # the user (or an earlier call) already chose one
            return Path(jax.config.jax_compilation_cache_dir)
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)  # small models compile fast
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except (OSError, ImportError, AttributeError):
        return None
    return folder


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Keep what C++ libraries write straight to file descriptor 2 (TensorFlow's oneDNN and absl start-up
    notices, which no environment variable silences without a cost) off the screen for a moment."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_keras_quietly() -> None:
    """Import Keras without TensorFlow's C++ start-up lines."""
    from .lean import keras_without_extras

    with _native_stderr_silenced(), keras_without_extras():
        import keras  # noqa: F401


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` (Python, NumPy, Keras and TensorFlow when the run uses it; on the
    JAX and PyTorch backends TensorFlow is seeded only when something imported it already, see
    :func:`kerasforge.lean.tensorflow_left_out`).

    >>> set_random_seed(42)   # doctest: +SKIP
    """
    import keras

    from .lean import tensorflow_left_out

    with _native_stderr_silenced(), tensorflow_left_out():
        keras.utils.set_random_seed(seed)


def describe_environment() -> dict:
    """Versions, backend and devices, for a run's ``env.json``."""
    import keras
    import numpy

    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "backend": keras.backend.backend(),
    }
    backend = info["backend"]
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            info["tensorflow"] = tf.__version__
            info["devices"] = [d.name for d in tf.config.list_logical_devices()]
        elif backend == "jax":
            import jax

            info["jax"] = jax.__version__
            info["devices"] = [str(d) for d in jax.devices()]
        elif backend == "torch":
            import torch

            info["torch"] = torch.__version__
            info["devices"] = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception as exc:  # describing must never break a run
        info["devices_error"] = repr(exc)
    return info
