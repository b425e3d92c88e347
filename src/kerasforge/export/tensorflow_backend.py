"""The one place that checks for TensorFlow-backed Keras, which SavedModel and TFLite exports need.

Example:
    >>> require_tensorflow_backend("tflite")   # doctest: +SKIP
"""

from __future__ import annotations

from .errors import ExportError


def require_tensorflow_backend(fmt: str) -> None:
    """Raise a clear :class:`ExportError` unless Keras runs on TensorFlow."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ExportError(f"the {fmt} export needs Keras' TensorFlow backend, but this run uses {backend}",
                          where=f"--format {fmt}",
                          fix="Run the export with KERAS_BACKEND=tensorflow (the trained weights load on any "
                              "backend), or choose the onnx or keras format.")
