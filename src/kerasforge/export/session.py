"""What exporting and verifying a run share: the run, its inference model, held-out examples and the
Keras model's own predictions on them (the reference every export is compared with).

Example:
    >>> session = open_session("runs/fashion_mnist_cnn-20261123-101500")   # doctest: +SKIP
    >>> session.x.shape, session.reference.shape                           # doctest: +SKIP
    ((256, 28, 28, 1), (256, 10))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .heldout import held_out_examples
from .inference_model import InferenceModel, build_inference_model


@dataclass
class Session:
    """A run opened for export: its inference model and the held-out reference."""

    run: Any
    inference: InferenceModel
    x: np.ndarray
    y: np.ndarray
    reference: np.ndarray

    @property
    def task(self) -> str:
        """multiclass, binary or regression."""
        if len(getattr(self.inference.model, "outputs", None) or []) > 1:
            return "multi_output"  # compared output by output value, not by one accuracy
        return (self.run.data_info or {}).get("task") or "multiclass"

    def rebuild(self):
        """A fresh inference model of the same run, sharing no variables with this one (the weights
        export zeroes the rebuilt model's weights before loading its file)."""
        from ..runs import load_run

        return build_inference_model(load_run(self.run.path)).model


def open_session(run_path: str | Path, *, examples: int = 256) -> Session:
    """Load the run at ``run_path``, wrap its model for RAW inputs and predict ``examples`` test examples."""
    from ..runs import load_run

    run = load_run(Path(run_path))
    inference = build_inference_model(run)
    x, y = held_out_examples(run, examples)
    from .outputs import as_columns

    reference = as_columns(inference.model.predict(x, verbose=0, batch_size=256))  # every output, side by side
    return Session(run=run, inference=inference, x=x, y=y, reference=reference)
