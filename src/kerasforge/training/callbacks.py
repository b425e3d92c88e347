"""Keras callbacks from the recipe, plus kerasforge's own: history on disk and per-epoch resume points.

Relative paths in callback arguments (``filepath``, ``filename``, ``log_dir``, ``backup_dir``) are
placed inside the run folder, so a run stays one folder you can zip and send.

Example:
    >>> cbs = make_callbacks(recipe.train.callbacks, run_dir, initial_lr=1e-3)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..recipe import CustomCallbackSpec, LearningRateSchedulerSpec

PATH_ARGUMENTS = ("filepath", "filename", "log_dir", "backup_dir")


def make_callbacks(specs: list, run_dir: Path, *, initial_lr: float, epochs: int | None = None) -> list:
    """Keras callback objects for the recipe's ``train.callbacks`` list (``epochs``: the run's length, the
    default length of a named learning-rate schedule that has one)."""
    import keras

    callbacks = []
    for i, spec in enumerate(specs):
        where = f"train.callbacks[{i}]"
        kwargs = _arguments(spec)
        for key in PATH_ARGUMENTS:
            if key in kwargs and not Path(str(kwargs[key])).is_absolute():
                kwargs[key] = str(run_dir / str(kwargs[key]))
        if spec.type == "ModelCheckpoint":
            _check_checkpoint_path(kwargs, where)
        for key in ("filepath", "filename"):
            if key in kwargs:
                Path(kwargs[key]).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, LearningRateSchedulerSpec):
            from .schedules import make_schedule

            extra = dict(spec.model_extra or {})
            schedule = make_schedule(spec.schedule, extra, initial_lr=initial_lr, epochs=epochs,
                                     where=f"{where}.schedule")
            callbacks.append(keras.callbacks.LearningRateScheduler(schedule, verbose=spec.verbose))
            continue
        if isinstance(spec, CustomCallbackSpec) and ":" in spec.type:
            from ..reference_kinds import expect
            from ..references import load_reference

            cls = expect(spec.type, load_reference(spec.type, where=f"{where}.type"), "callback", where=f"{where}.type")
        else:
            cls = getattr(keras.callbacks, spec.type)
        try:
            callbacks.append(cls(**kwargs))
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"callback {spec.type} could not be created: {exc}", where=where,
                              fix="Check its arguments against the Keras documentation of that callback.") from None
    return callbacks


def _arguments(spec: Any) -> dict[str, Any]:
    if isinstance(spec, CustomCallbackSpec):
        return spec.kwargs
    return spec.model_dump(exclude={"type"})


def _check_checkpoint_path(kwargs: dict[str, Any], where: str) -> None:
    path = str(kwargs["filepath"])
    wanted = ".weights.h5" if kwargs.get("save_weights_only") else ".keras"
    if not path.endswith(wanted):
        raise RecipeError(f"ModelCheckpoint's filepath {Path(path).name!r} must end in {wanted!r}",
                          where=f"{where}.filepath",
                          fix=f"Name the file like 'checkpoints/best{wanted}'.")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader (or a kill) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_plain), encoding="utf-8")
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def history_recorder(path: Path, history: dict[str, list]):
    """A callback that appends each epoch's logs to ``history`` and writes it to ``path``."""
    import keras

    class _HistoryRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            lr = getattr(self.model.optimizer, "learning_rate", None)
            if lr is not None and "learning_rate" not in logs:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
            history.setdefault("epoch", []).append(epoch + 1)
            for key, value in logs.items():
                history.setdefault(key, []).append(_finite(value))
            write_json_atomic(path, history)

    return _HistoryRecorder()


def resume_checkpointer(folder: Path, history: dict[str, list]):
    """A callback that leaves a complete resume point after every epoch.

    Weights (with the optimizer state) go to ``resume-<epoch>.weights.h5``; only then does
    ``resume.json`` point at them, atomically, so a kill at any moment leaves the previous epoch's
    resume point intact.
    """
    import keras

    folder.mkdir(parents=True, exist_ok=True)

    class _ResumeCheckpointer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            weights = folder / f"resume-{epoch + 1}.weights.h5"
            self.model.save_weights(weights)
            write_json_atomic(folder / "resume.json",
                              {"epochs_done": epoch + 1, "weights": weights.name, "history": history})
            for old in folder.glob("resume-*.weights.h5"):
                if old != weights:
                    old.unlink(missing_ok=True)

    return _ResumeCheckpointer()


def read_resume_point(folder: Path) -> dict | None:
    """The last complete resume point in ``folder`` (``None`` when there is none)."""
    state_file = folder / "resume.json"
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (folder / state.get("weights", "")).is_file():
        return None
    return state
