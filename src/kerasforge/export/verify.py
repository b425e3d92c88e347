"""Verifying an export: reload it in its own runtime and compare it with the Keras inference model.

Float32 exports must agree within ``FLOAT_TOLERANCE`` (max abs difference of the probabilities);
quantized ones (dynamic, float16, int8) within ``ACCURACY_TOLERANCE`` of the Keras model's accuracy on the
same held-out examples (regressors: their mean absolute error within ``REGRESSION_TOLERANCE`` of the targets'
standard deviation of the Keras model's). :func:`verify_export` re-checks a finished export later: its files against the card's
checksums, then its predictions again.

Example:
    >>> verify_export("runs/fashion_mnist_cnn-20261123-101500/exports/onnx")["passed"]   # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError

FLOAT_TOLERANCE = 1e-4
ACCURACY_TOLERANCE = 0.01  # one point of accuracy
REGRESSION_TOLERANCE = 0.02  # of the targets' standard deviation: a quantized regressor's mean absolute error
DEFAULT_EXAMPLES = 256


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of examples whose top class (or ``p > 0.5`` for one sigmoid unit) is the label.

    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    0.5
    """
    p = np.asarray(probabilities, dtype="float64")
    if p.ndim == 1:
        p = p[:, None]
    predicted = (p[:, 0] > 0.5).astype(int) if p.shape[1] == 1 else p.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels).astype(int).ravel()))


def compare(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray, *, quantized: bool,
            task: str = "multiclass") -> dict[str, Any]:
    """The verification figures of ``exported`` against ``reference`` (both probabilities, same examples).

    >>> compare(np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]]), np.array([0]), quantized=False)["passed"]
    True
    """
    reference = np.asarray(reference, dtype="float64")
    exported = np.asarray(exported, dtype="float64")
    if exported.shape != reference.shape:
        return {"passed": False, "examples": int(len(reference)), "max_abs_diff": None,
                "problem": f"the export gives shape {list(exported.shape)} where Keras gives {list(reference.shape)}"}
    diff = float(np.max(np.abs(exported - reference))) if reference.size else 0.0
    finite = bool(np.all(np.isfinite(exported)))
    figures: dict[str, Any] = {"examples": int(len(reference)), "max_abs_diff": diff}
    classify = task not in ("regression", "multi_output")
    if classify:
        figures["accuracy_keras"] = accuracy(reference, labels)
        figures["accuracy_export"] = accuracy(exported, labels)
        figures["accuracy_delta"] = figures["accuracy_export"] - figures["accuracy_keras"]
    if quantized and classify:
        figures["criterion"] = f"|accuracy_export - accuracy_keras| <= {ACCURACY_TOLERANCE}"
        ok = abs(figures["accuracy_delta"]) <= ACCURACY_TOLERANCE + 1e-12
    elif quantized and task == "regression":  # a regressor: its error may grow by a small share of the targets' spread
        targets = np.asarray(labels, dtype="float64").reshape(reference.shape)
        figures["mae_keras"] = float(np.mean(np.abs(reference - targets)))
        figures["mae_export"] = float(np.mean(np.abs(exported - targets)))
        allowed = REGRESSION_TOLERANCE * float(np.std(targets))
        figures["criterion"] = f"|mae_export - mae_keras| <= {REGRESSION_TOLERANCE} x std(targets) = {allowed:.4g}"
        ok = abs(figures["mae_export"] - figures["mae_keras"]) <= allowed + 1e-12
    else:
        figures["criterion"] = f"max_abs_diff <= {FLOAT_TOLERANCE:g}"
        ok = diff <= FLOAT_TOLERANCE
    figures["passed"] = bool(ok and finite)
    if not finite:
        figures["problem"] = "the export gives NaN or infinite values"
    return figures


def check(run_predictions: Callable[[np.ndarray], np.ndarray], x: np.ndarray, reference: np.ndarray,
          labels: np.ndarray, *, quantized: bool, task: str, runtime: str) -> dict[str, Any]:
    """Run the reloaded export on ``x`` and :func:`compare` it; the figures include ``runtime``."""
    figures = compare(reference, run_predictions(x), labels, quantized=quantized, task=task)
    figures["runtime"] = runtime
    figures["verified_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return figures


def failure_text(figures: dict[str, Any]) -> str:
    """Why a verification failed, in one phrase."""
    if figures.get("problem"):
        return figures["problem"]
    text = f"max abs difference {figures.get('max_abs_diff'):.3g} on {figures.get('examples')} held-out examples"
    if "accuracy_export" in figures:
        text += (f", accuracy {figures['accuracy_export']:.4f} against Keras' {figures['accuracy_keras']:.4f}")
    return text + f" (needed: {figures.get('criterion')})"


def verify_export(path: str | Path, *, examples: int = DEFAULT_EXAMPLES, session=None) -> dict[str, Any]:
    """Re-verify the export in ``path`` (``<run>/exports/<format>``); returns its fresh figures.

    Its files must match the card's sha256 checksums and its predictions, reloaded in its own runtime, the
    run's Keras inference model (same tolerances as at export). Anything else raises :class:`ExportError`.
    ``session`` (from :func:`kerasforge.export.session.open_session`) saves reloading the run when several
    exports of one run are checked.

    >>> verify_export("runs/fashion_mnist_cnn-20261123-101500/exports/tflite-float16")   # doctest: +SKIP
    """
    from .card import changed_files, read_card
    from .session import open_session

    folder = Path(path)
    card = read_card(folder)
    fmt, quantize = card["format"], card.get("quantize")
    changed = changed_files(folder, card)
    figures: dict[str, Any] = {}
    if changed:  # not run: a damaged flatbuffer or graph can crash a native runtime instead of raising
        problem = ("its files changed since export (not run, since a damaged file can crash its runtime): "
                   + ", ".join(changed))
    else:
        session = session or open_session(_run_folder(folder, card), examples=examples)
        figures, problem = _rerun(folder, fmt, quantize, session)
    if problem:
        raise ExportError(f"the {folder.name} export failed verification: {problem}", where=str(folder),
                          fix=f"Export it again: kforge export {card.get('run', 'RUN')} --format {folder.name}.")
    return figures


def _rerun(folder: Path, fmt: str, quantize: str | None, session) -> tuple[dict[str, Any], str | None]:
    """The export's fresh figures, and what went wrong (``None`` when it still verifies)."""
    from .formats import FORMATS

    spec = FORMATS[fmt]
    try:
        predict = spec.implementation().load(folder, session.rebuild, fmt=fmt)
        figures = check(predict, session.x, session.reference, session.y, quantized=bool(quantize),
                        task=session.task, runtime=spec.runtime)
    except Exception as exc:  # a damaged file makes runtimes fail in many ways; say which and how
        return {}, f"{spec.runtime} could not run it ({type(exc).__name__}: {_first_line(exc)})"
    if not figures.get("passed"):
        return figures, "its predictions no longer match the Keras model: " + failure_text(figures)
    return figures, None


def _run_folder(folder: Path, card: dict[str, Any]) -> Path:
    """The run an export came from: ``<run>/exports/<format>``, else the card's ``run``."""
    for candidate in (folder.resolve().parents[1] if len(folder.resolve().parents) > 1 else None,
                      Path(card["run"]) if card.get("run") else None):
        if candidate is not None and (candidate / "run.json").is_file():
            return candidate
    raise ExportError("the run this export came from cannot be found, so there is nothing to compare it with",
                      where=str(folder), fix=f"Keep the export inside its run folder ({card.get('run')}/exports).")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else "no message")[:300]
