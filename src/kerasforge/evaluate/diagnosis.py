"""Diagnosis in plain language: what went wrong in a run (or nothing), with the evidence and the fix.

Each finding is ``{"code", "severity", "title", "evidence", "fix"}``; ``severity`` is ``"problem"``
(something to change) or ``"info"``. The rules read the per-epoch history, ``run.json`` (guards that
fired, out-of-memory retries) and the training labels.

Example:
    >>> history = {"epoch": [1, 2, 3, 4, 5], "loss": [1.0, 0.6, 0.4, 0.3, 0.2],
    ...            "val_loss": [0.9, 0.5, 0.55, 0.7, 0.9]}
    >>> [f["code"] for f in diagnose(history)]
    ['overfitting']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Thresholds, in one visible place.
OVERFIT_RISE = 0.10          # validation loss this much (relative) above its best ...
OVERFIT_MIN_EPOCHS_AFTER = 2  # ... for at least this many epochs after the best one
UNDERFIT_SHARE = 0.5         # train accuracy below chance + this share of the way to 1.0
STILL_FALLING = 0.05         # training loss fell more than this (relative) in the last epoch
OSCILLATION_MIN_EPOCHS = 5
OSCILLATION_ACC_STEP = 0.02  # median step of validation accuracy (absolute) ...
OSCILLATION_LOSS_STEP = 0.05  # ... or of validation loss (relative)
CHANCE_MARGIN = 0.02
IMBALANCE_RATIO = 10.0        # largest class / smallest class in the training labels

# The data stage explains shape and channel mismatches before training (kerasforge.data.fit raises a
# DataError naming `data.color_mode` / `data.image_size`); the diagnosis repeats that explanation.
SHAPE_MISMATCH_EXPLANATION = (
    "The examples do not have the shape the model's input expects. For images the usual cause is the "
    "number of colour channels: grayscale images have 1 channel, RGB 3 and RGBA 4. Set `data.color_mode` "
    "(grayscale, rgb or rgba) so that the data matches the model, set `data.image_size` to resize the "
    "images, or leave `model.input_shape` out so that the model takes the data's shape.")


def finding(code: str, title: str, evidence: str, fix: str, severity: str = "problem") -> dict[str, str]:
    """One finding as plain data."""
    return {"code": code, "severity": severity, "title": title, "evidence": evidence, "fix": fix}


def diagnose(history: dict[str, list], *, run_info: dict[str, Any] | None = None,
             train_labels: Sequence[int] | np.ndarray | None = None, num_classes: int | None = None,
             task: str = "multiclass", class_names: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Every finding for a run, problems first. ``[]`` means nothing to report."""
    run_info = run_info or {}
    history = history or {}
    chance = chance_level(train_labels, num_classes) if task != "regression" else None
    diverged = non_finite_loss(history, run_info)
    curves = [] if diverged else [  # after a NaN loss, the curves say nothing more
        overfitting(history), underfitting(history, chance), oscillating(history), at_chance(history, chance)]
    findings = [diverged, out_of_memory(run_info), *curves,
                class_imbalance(train_labels, class_names) if task != "regression" else None]
    found = [f for f in findings if f]
    return sorted(found, key=lambda f: f["severity"] != "problem")


def chance_level(labels: Sequence[int] | np.ndarray | None, num_classes: int | None) -> float | None:
    """Accuracy of always guessing the most common class (1/classes when the labels are unknown).

    >>> chance_level([0, 0, 0, 1], 2)
    0.75
    """
    if labels is not None and len(labels):
        counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1))
        return float(counts.max() / counts.sum())
    return 1.0 / num_classes if num_classes and num_classes > 1 else None


# ---------------------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------------------
def non_finite_loss(history: dict[str, list], run_info: dict[str, Any]) -> dict[str, str] | None:
    """The loss became NaN or infinite (the non-finite-loss guard stopped the run, or the history shows it)."""
    stopped = run_info.get("stopped") or {}
    if stopped.get("reason") == "non_finite_loss":
        where = f"epoch {stopped.get('epoch')}, batch {stopped.get('batch')}"
        value = stopped.get("loss")
    else:
        bad = [e for e, v in zip(_epochs(history), history.get("loss", []), strict=False) if not _is_finite(v)]
        if not bad:
            return None
        where, value = f"epoch {bad[0]}", "nan"
    return finding(
        "non_finite_loss", "The loss became NaN/infinite and training was stopped",
        f"The training loss was {value} at {where}; training stopped there and the model saved is the one "
        "of that moment (its weights are probably unusable).",
        "Lower the learning rate (e.g. 10x), add `clipnorm: 1.0` to `train.optimizer`, check the data for "
        "NaN/inf values and that the inputs are normalised (`data.normalize: scale`).")


def out_of_memory(run_info: dict[str, Any]) -> dict[str, str] | None:
    """Training ran out of memory and was retried with a smaller batch."""
    retries = run_info.get("oom_retries") or []
    if not retries:
        return None
    steps = " -> ".join([str(retries[0]["batch_size"])] + [str(r["new_batch_size"]) for r in retries])
    return finding(
        "out_of_memory", "Out of memory: retried with a smaller batch size",
        f"Training ran out of memory ({retries[0].get('error', 'out of memory')}); the batch size was "
        f"halved automatically ({steps}) and training went on with {retries[-1]['new_batch_size']}.",
        f"Set `train.batch_size: {retries[-1]['new_batch_size']}` in the recipe to start with a size that fits, "
        "or use a smaller model or smaller images.", severity="info")


def overfitting(history: dict[str, list]) -> dict[str, str] | None:
    """Validation loss rising for several epochs after its best while the training loss keeps falling."""
    val, loss, epochs = _series(history, "val_loss"), _series(history, "loss"), _epochs(history)
    if len(val) < OVERFIT_MIN_EPOCHS_AFTER + 2 or len(loss) != len(val):
        return None
    best = int(np.nanargmin(val))
    after = len(val) - 1 - best
    if after < OVERFIT_MIN_EPOCHS_AFTER or not val[-1] > val[best] * (1 + OVERFIT_RISE) + 1e-6:
        return None
    if not loss[-1] < loss[best]:
        return None
    return finding(
        "overfitting", f"Overfitting from epoch {epochs[best + 1]}",
        f"Validation loss was lowest at epoch {epochs[best]} ({val[best]:.4f}) and rose to {val[-1]:.4f} by "
        f"epoch {epochs[-1]}, while the training loss kept falling ({loss[best]:.4f} -> {loss[-1]:.4f}).",
        "Stop earlier (`{type: EarlyStopping, patience: 3, restore_best_weights: true}` in train.callbacks), "
        "add regularisation (Dropout, `kernel_regularizer: {l2: 0.001}`), use data augmentation or more data.")


def underfitting(history: dict[str, list], chance: float | None) -> dict[str, str] | None:
    """Training accuracy low at the end (the model has not learned the training data)."""
    acc, loss, epochs = _series(history, "accuracy"), _series(history, "loss"), _epochs(history)
    if not len(acc) or chance is None or not math.isfinite(acc[-1]):
        return None
    target = chance + UNDERFIT_SHARE * (1.0 - chance)
    if acc[-1] >= target:
        return None
    falling = len(loss) >= 2 and loss[-2] > 0 and (loss[-2] - loss[-1]) / loss[-2] > STILL_FALLING
    evidence = (f"Training accuracy is {acc[-1]:.3f} after {epochs[-1]} epoch(s) (chance is {chance:.3f}); "
                "the model has not learned the training data")
    if falling:
        evidence += f", and the training loss was still falling in the last epoch ({loss[-2]:.4f} -> {loss[-1]:.4f})."
        fix = ("Train longer (raise `train.epochs`) or raise the learning rate; if it stays low, "
               "use a bigger model.")
    else:
        evidence += "."
        fix = ("Use a bigger model (more units or layers, convolutions for images), check the learning rate "
               "(too high or too low), and check that the labels match the inputs.")
    return finding("underfitting", "Underfitting: the model fits the training data poorly", evidence, fix)


def oscillating(history: dict[str, list]) -> dict[str, str] | None:
    """Validation metric going up and down from epoch to epoch instead of settling."""
    name = "val_accuracy" if "val_accuracy" in history else "val_loss"
    values = _series(history, name)
    if len(values) < OSCILLATION_MIN_EPOCHS or not np.all(np.isfinite(values)):
        return None
    steps = np.diff(values)
    if name == "val_loss":
        steps = steps / np.maximum(np.abs(values[:-1]), 1e-12)
    threshold = OSCILLATION_ACC_STEP if name == "val_accuracy" else OSCILLATION_LOSS_STEP
    big = np.abs(steps) > threshold
    signs = np.sign(steps)
    reversals = int(np.sum((signs[1:] * signs[:-1] < 0) & big[1:] & big[:-1]))
    if reversals < max(3, (len(steps) - 1) // 2):
        return None
    shown = ", ".join(f"{v:.3f}" for v in values[-8:])
    return finding(
        "oscillating", f"Validation {name[4:]} oscillates",
        f"{name} changed direction {reversals} times over {len(values)} epochs with steps of about "
        f"{np.median(np.abs(steps)):.3f} (last values: {shown}).",
        "Lower the learning rate (e.g. halve it) or add `{type: ReduceLROnPlateau, factor: 0.5, patience: 2}`; "
        "a larger `train.batch_size` also smooths the updates; check that the validation split is not tiny.")


def at_chance(history: dict[str, list], chance: float | None) -> dict[str, str] | None:
    """Accuracy no better than guessing the most common class, after the first epoch."""
    acc, epochs = _series(history, "accuracy"), _epochs(history)
    val = _series(history, "val_accuracy")
    if chance is None or len(acc) < 2:
        return None
    later = acc[1:] if not len(val) else np.maximum(acc[1:], val[1:])
    if not np.all(later <= chance + CHANCE_MARGIN):
        return None
    return finding(
        "chance_level", "Accuracy stuck at chance level",
        f"From epoch {epochs[1]} to {epochs[-1]} the accuracy stayed at or below {later.max():.3f}, "
        f"the accuracy of always guessing the most common class ({chance:.3f}): the model learns nothing.",
        "Check the learning rate (try 1e-3 with adam), that the inputs are normalised (`data.normalize: scale`), "
        "that the last layer has one unit per class with softmax, and that the labels belong to the inputs.")


def class_imbalance(labels: Sequence[int] | np.ndarray | None,
                    class_names: Sequence[str] | None = None) -> dict[str, str] | None:
    """Strong class imbalance in the training labels (largest / smallest class >= IMBALANCE_RATIO)."""
    if labels is None or not len(labels):
        return None
    counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1),
                         minlength=len(class_names) if class_names else 0)
    present = counts[counts > 0]
    if len(present) < 2 or present.max() / present.min() < IMBALANCE_RATIO:
        return None
    names = list(class_names) if class_names else [str(i) for i in range(len(counts))]
    big, small = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    return finding(
        "class_imbalance", "Strong class imbalance in the training data",
        f"Class {names[big]!r} has {counts[big]} training examples but {names[small]!r} only {counts[small]} "
        f"({counts[big] / counts[small]:.0f}x fewer); accuracy alone will hide how the small classes fare.",
        "Set `train.class_weight: balanced`, collect more examples of the small classes, and judge the model "
        "by per-class recall / F1 in the classification report.")


def explain_shape_error(error: Exception) -> dict[str, str]:
    """A finding for the data stage's shape/channel error (raised before training starts).

    >>> from kerasforge.errors import DataError
    >>> explain_shape_error(DataError("1 colour channel(s) where the model takes 3", where="data",
    ...                               fix="Set `data.color_mode: rgb`."))["code"]
    'input_shape_mismatch'
    """
    what = getattr(error, "what", str(error))
    fix = getattr(error, "fix", None) or SHAPE_MISMATCH_EXPLANATION
    return finding("input_shape_mismatch", "The data does not fit the model's input",
                   f"{what}. {SHAPE_MISMATCH_EXPLANATION}", fix)


# ---------------------------------------------------------------------------------------------------
def _series(history: dict[str, list], key: str) -> np.ndarray:
    return np.asarray([float("nan") if v is None else float(v) for v in history.get(key, [])], dtype=np.float64)


def _epochs(history: dict[str, list]) -> list[int]:
    n = max((len(v) for v in history.values()), default=0)
    return list(history.get("epoch") or range(1, n + 1))


def _is_finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))
