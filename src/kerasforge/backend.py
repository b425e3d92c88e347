"""Choosing and describing the Keras backend: the one place that knows about TensorFlow, JAX and PyTorch.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so :func:`configure_backend` must run
before anything imports ``keras``. kerasforge's own modules import Keras lazily for that reason.

Rule (unless ``KERAS_BACKEND`` or the recipe's ``backend:`` says otherwise): JAX where a GPU is present,
TensorFlow on CPU-only machines (its convolutions are about 3x faster than XLA's on a small CPU), then
whatever is installed. A distributed run (``--devices``, ``--num-processes``) always picks JAX, the one
backend Keras' distribution API supports (see :mod:`kerasforge.distribute`).

Example:
    >>> from kerasforge.backend import configure_backend
    >>> configure_backend("auto")   # doctest: +SKIP
    'tensorflow'
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
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


def pick_backend(requested: str | None = "auto", *, distributed: bool = False) -> str:
    """The backend to use for ``requested`` ("auto", "tensorflow", "jax" or "torch").

    ``distributed=True`` (several devices or processes) makes "auto" mean JAX; an explicit other choice
    is kept, and :func:`kerasforge.distribute.configure_distribution` then explains the conflict.
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
        preferred = ("jax", "torch", "tensorflow") if gpu_present() else ("tensorflow", "jax", "torch")
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


def configure_backend(requested: str | None = "auto", *, distributed: bool = False) -> str:
    """Point Keras at the chosen backend before it is imported; returns the backend in use.

    If Keras is already imported with another backend, the one in use is kept and returned
    (Keras cannot switch backends inside one process). ``distributed``: see :func:`pick_backend`.
    """
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    name = pick_backend(requested, distributed=distributed)
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


def _import_keras_quietly() -> None:
    """Import Keras with the C++ start-up lines TensorFlow writes straight to file descriptor 2
    (oneDNN and absl notices that no environment variable silences without a cost) kept off the screen."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        import keras  # noqa: F401

        return
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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
