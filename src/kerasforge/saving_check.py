"""A run is finished only when its model comes back: ``model.keras`` reloaded (safe mode) must predict
what the trained model predicts on a few real examples.

Called by :func:`kerasforge.pipeline.finish` right after saving. A file that does not load, or loads and
predicts something else, is a :class:`~kerasforge.errors.TrainError` naming the cause; the run is marked
``failed`` in ``run.json`` (with the error) and the weights are kept in ``model.weights.h5``, so nothing
trained is lost. Models written in Python (``model: module:Name``) that Keras cannot rebuild from the file
come back the way ``kforge predict`` brings them back: built from the recipe, then given the weights.

Example:
    >>> check_saved_model(recipe, prepared, run_dir)   # doctest: +SKIP
    {'examples': 8, 'max_abs_diff': 0.0, 'loaded_from': 'model.keras'}
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import KerasforgeError, TrainError

EXAMPLES = 8
RTOL, ATOL = 1e-4, 1e-5


def check_saved_model(recipe, prepared, run_dir: Path, *, examples: int = EXAMPLES) -> dict[str, Any]:
    """Reload ``run_dir/model.keras`` and compare its predictions with ``prepared.model``'s on the first
    ``examples`` examples of the evaluation split; returns the figures (also written to ``run.json`` as
    ``reload_check``), or raises :class:`TrainError` with the run marked failed."""
    from .runs import update_run_info

    x = _first(prepared.x[recipe.evaluate.split] if prepared.x.get(recipe.evaluate.split) is not None
               else prepared.x["train"], examples)
    try:
        expected = _predict(prepared.model, x)
        reloaded, source = _reload(recipe, prepared, run_dir)
        got = _predict(reloaded, x)
        figures = _compare(expected, got)
    except _Mismatch as exc:
        problem, figures = str(exc), None
    except Exception as exc:  # any failure to load or run the file: keep its cause
        problem, figures = _first_line(exc), None
    else:
        figures.update(loaded_from=source)
        if figures["passed"]:
            update_run_info(run_dir, reload_check=figures)
            return figures
        problem = (f"the reloaded model predicts differently (max abs difference {figures['max_abs_diff']:.3g} "
                   f"on {figures['examples']} examples)")
    _keep_weights(prepared.model, run_dir)
    message = f"the saved model.keras does not come back: {problem}"
    update_run_info(run_dir, status="failed", error=message[:2000])
    raise TrainError(message, where=str(run_dir / "model.keras"),
                     fix="The trained weights are kept in model.weights.h5. A layer whose get_config() does not "
                         "rebuild it (custom layers: implement get_config and register them with "
                         "keras.saving.register_keras_serializable) is the usual cause; report a built-in "
                         "Keras layer that fails here as a bug.")


class _Mismatch(Exception):
    pass


def _first(x, n: int):
    if isinstance(x, dict):
        return {k: v[:n] for k, v in x.items()}
    return x[:n]


def _predict(model, x) -> list[np.ndarray]:
    import keras

    out = model.predict(x, verbose=0, batch_size=len(next(iter(x.values())) if isinstance(x, dict) else x))
    return [np.asarray(keras.ops.convert_to_numpy(o), dtype="float64") for o in keras.tree.flatten(out)]


def _reload(recipe, prepared, run_dir: Path):
    from .saving import load_model_file

    weights = run_dir / "model.weights.h5"
    for name in ("model.keras", "model.h5"):  # whichever output.formats saved
        if (run_dir / name).is_file():
            try:
                return load_model_file(run_dir / name, compile=False), name  # predictions only
            except KerasforgeError:
                if recipe.model.kind != "python" or not weights.is_file():
                    raise
            break
    if not weights.is_file():
        raise _Mismatch("no model file was saved (output.formats)")
    from .data.dataset import input_dtype
    from .models import build_model

    dataset = prepared.dataset  # rebuilt from the recipe (its code is trusted here: it was just trained)
    model = build_model(recipe.model, dataset.input_shape, dataset.num_classes, name=recipe.name,
                        input_dtype=input_dtype(dataset.kind))
    from .data.scaling import rescale_rebuilt

    model = rescale_rebuilt(model, {"preprocessing": dataset.preprocessing, "input_shape": dataset.input_shape})
    model.load_weights(weights)
    return model, "the recipe's model + model.weights.h5"


def _compare(expected: list[np.ndarray], got: list[np.ndarray]) -> dict[str, Any]:
    if len(expected) != len(got) or any(a.shape != b.shape for a, b in zip(expected, got, strict=False)):
        raise _Mismatch(f"the reloaded model gives outputs shaped {[list(g.shape) for g in got]} where the trained "
                        f"model gives {[list(e.shape) for e in expected]}")
    diff = max((float(np.max(np.abs(a - b))) if a.size else 0.0) for a, b in zip(expected, got, strict=True))
    close = all(np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True) for a, b in zip(expected, got, strict=True))
    return {"passed": bool(close), "examples": int(len(expected[0])) if expected else 0, "max_abs_diff": diff}


def _keep_weights(model, run_dir: Path) -> None:
    from .saving import save_model

    with contextlib.suppress(Exception):  # the error being raised says more than this one would
        save_model(model, run_dir, ["weights"])


def _first_line(exc: BaseException) -> str:
    """The cause in one line: Keras buries it after the whole config ("Exception encountered: ..."), or
    at the bottom of the exception chain."""
    while exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__
    text = str(exc)
    if "Exception encountered:" in text:
        text = text.rsplit("Exception encountered:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: " + (lines[0] if lines else "no message")[:600]
