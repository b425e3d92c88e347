"""The one place that knows the SavedModel, TFLite and ONNX converters run on Keras' TensorFlow backend.

A run folder is backend-agnostic (``model.keras``), but a run trained — or exported — on JAX (the GPU
default, and the CPU default for dense models) would otherwise fail those exports (Keras' own ONNX path
on JAX needs the heavy ``jax2onnx``; SavedModel and LiteRT need TensorFlow). :func:`on_tensorflow` runs a
format's ``save`` in this process when Keras runs on TensorFlow, and otherwise in a child process that
does: the inference model goes there as a ``.keras`` file (safe mode), with the modules that registered
its custom layers. The export is then verified back here, in the format's own runtime, as always.

Example:
    >>> artifact = on_tensorflow("onnx", inference.model, Path("out"), quantize=None, save=_save)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ExportError

CHILD_TIMEOUT_S = 1800


def backend() -> str:
    """The Keras backend of this process."""
    import keras

    return keras.backend.backend()


def require_tensorflow_backend(fmt: str) -> None:
    """Raise a clear :class:`ExportError` unless Keras runs on TensorFlow (for callers that cannot delegate)."""
    if backend() != "tensorflow":
        raise ExportError(f"the {fmt} export needs Keras' TensorFlow backend, but this process uses {backend()}",
                          where=f"--format {fmt}",
                          fix="Run the export with KERAS_BACKEND=tensorflow (the trained weights load on any "
                              "backend), or choose the onnx or keras format.")


def on_tensorflow(fmt: str, model, folder: Path, *, quantize: str | None, save: Callable[..., Path],
                  representative: np.ndarray | None = None) -> Path:
    """``save(model, folder, fmt=fmt, quantize=quantize)`` on TensorFlow: here, or in a child process.

    ``representative`` (an int8 quantization's calibration examples) is passed on as ``save``'s keyword of
    that name; a child process gets it as a ``.npy`` file beside the model."""
    extra = {} if representative is None else {"representative": representative}
    if backend() == "tensorflow":
        return save(model, folder, fmt=fmt, quantize=quantize, **extra)
    import keras

    with tempfile.TemporaryDirectory(prefix="kforge-tf-export-") as scratch:
        source = Path(scratch) / "inference.keras"
        model.save(source)
        examples = ""
        if representative is not None:
            examples = str(Path(scratch) / "representative.npy")
            np.save(examples, np.asarray(representative), allow_pickle=False)
        modules = sorted({type(obj).__module__ if not isinstance(obj, type) else obj.__module__
                          for obj in keras.saving.get_custom_objects().values()})
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run([sys.executable, "-m", __name__, fmt, str(source), str(folder), quantize or "",
                               examples, *modules], capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        tail = done.stderr.strip()[-6000:] or f"exit status {done.returncode}"
        raise RuntimeError(f"the TensorFlow converter (run in a TensorFlow process, since this one uses "
                           f"{backend()}) failed:\n{tail}")
    from .formats import FORMATS

    return folder / FORMATS[fmt].artifact


def _child(argv: list[str]) -> int:
    """In the TensorFlow child: load the inference model and save it as ``fmt`` into the folder."""
    import importlib

    fmt, source, folder, quantize, examples, *modules = argv
    for module in modules:  # the modules that registered custom layers in the parent (already trusted there)
        try:
            importlib.import_module(module)
        except Exception:  # noqa: S112 - a module the model does not need may fail to import here
            continue
    import keras

    from ..keras_fixes import apply
    from .formats import FORMATS

    apply()
    model = keras.saving.load_model(source, compile=False, safe_mode=True)
    extra = {"representative": np.load(examples, allow_pickle=False)} if examples else {}
    impl = FORMATS[fmt].implementation()  # its converter itself: the parent checks what it wrote
    getattr(impl, "_save", impl.save)(model, Path(folder), fmt=fmt, quantize=quantize or None, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
