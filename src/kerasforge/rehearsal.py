"""A rehearsal before the long run: one training step, one evaluation step, a prediction and a
save → reload → predict round trip on a handful of real examples, in seconds, before the first epoch.

``kforge check RECIPE --data`` and the start of ``kforge train`` call :func:`rehearse` on the prepared
model (real data shapes, label encoding, class weights, multi-input views, adapted text vectorisation).
Every mistake that would otherwise surface mid-training — a loss that does not fit the labels, a metric
that does not fit them, user code that fails once compiled on the backend, outputs that are not what the
loss expects, a NaN loss before any update, a model that saves but does not come back, dtype errors —
becomes one :class:`~kerasforge.errors.TrainError` naming the recipe field most likely at fault and the fix.

The rehearsal works on the real model but gives everything back: every model and optimizer variable
(random-seed states included), the Python, NumPy and Keras random states and the compiled functions are
restored afterwards, so a seeded run trains to the same weights with or without it
(``tests/test_rehearsal.py`` checks this). Skip it with ``train.rehearsal: false`` or ``--no-rehearsal``.

Example:
    >>> figures = rehearse(recipe, prepared)       # doctest: +SKIP
    >>> figures                                    # doctest: +SKIP
    {'examples': 16, 'train_loss': 2.31, 'eval': {'loss': 2.2, 'accuracy': 0.19}, 'reload_max_abs_diff': 0.0,
     'seconds': 1.4}
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import KerasforgeError, TrainError

EXAMPLES = 16


class _Found(Exception):
    """A mistake located by the rehearsal itself: (what, where, fix)."""

    def __init__(self, what: str, where: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.where, self.fix = what, where, fix


def rehearse(recipe, prepared, *, examples: int = EXAMPLES) -> dict[str, Any]:
    """Run the rehearsal on ``prepared`` (a :class:`kerasforge.pipeline.Prepared`); returns its figures, or
    raises :class:`TrainError` (one paragraph: what failed, the recipe field, the fix). The model, its
    optimizer and the random states are as they were afterwards, whatever happens."""
    start = time.perf_counter()
    model = prepared.model
    x_train, y_train = _first(prepared.x["train"], examples), _first(prepared.y["train"], examples)
    split = recipe.evaluate.split if prepared.x.get(recipe.evaluate.split) is not None else "train"
    x_eval, y_eval = _first(prepared.x[split], examples), _first(prepared.y[split], examples)
    stage = "the training step"
    figures: dict[str, Any] = {"examples": _rows(x_train)}
    try:
        with throwaway_state(model) as untrained:
            _check_finite_features(x_train)
            logs = model.train_on_batch(x_train, y_train, class_weight=prepared.class_weight, return_dict=True)
            figures["train_loss"] = _number(logs.get("loss"))
            if not math.isfinite(figures["train_loss"]):
                untrained()
                _explain_non_finite(recipe, model, x_train, y_train)
            stage = "the evaluation step (loss and every metric)"
            figures["eval"] = {k: _number(v) for k, v in model.test_on_batch(x_eval, y_eval, return_dict=True).items()}
            stage = "the prediction"
            predicted = _predict(model, x_eval)
            _check_outputs(recipe, prepared, model, predicted, y_eval)
            stage = "the save → reload → predict round trip"
            figures["reload_max_abs_diff"] = _round_trip(recipe, prepared, x_eval, predicted)
    except KerasforgeError as exc:
        raise _rehearsal_error(exc.what, exc.where, exc.fix, stage) from None
    except _Found as exc:
        raise _rehearsal_error(exc.what, exc.where, exc.fix, stage) from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one paragraph naming a recipe field
        what, where, fix = explain(exc, recipe, prepared, x_train, y_train, stage)
        raise _rehearsal_error(what, where, fix, stage) from None
    figures["seconds"] = round(time.perf_counter() - start, 3)
    return figures


ENV_SWITCH = "KFORGE_REHEARSAL"  # 0/off: no rehearsal at the start of `kforge train` (check --data still runs it)


def before_training(recipe, prepared, *, distributed: bool = False) -> dict[str, Any] | None:
    """The start of ``kforge train``: :func:`rehearse` unless ``train.rehearsal`` is false,
    ``$KFORGE_REHEARSAL`` is ``0``/``off`` (for every run of a machine or a test suite), or the run is
    distributed (its collectives must start together on every process: no step runs before them); prints
    one line and returns the figures for ``run.json`` (``None`` when skipped)."""
    import os

    from .console import say

    if not recipe.train.rehearsal or os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "off", "false", "no"):
        return None
    if distributed:
        say("  rehearsal: skipped (a distributed run; run `kforge check --data` on one process first)")
        return None
    figures = rehearse(recipe, prepared)
    prepared.timings["rehearsal_s"] = figures["seconds"]
    say(f"  rehearsal: {describe(figures)}")
    return figures


def check_with_data(recipe) -> dict[str, Any]:
    """``kforge check --data``: load the data and prepare the model exactly as ``kforge train`` does (same
    backend, same seed), then :func:`rehearse`; nothing is written. Returns the rehearsal's figures."""
    from .backend import configure_backend, dense_only, set_random_seed
    from .code_backend import requested_backend
    from .pipeline import prepare

    configure_backend(requested_backend(recipe), dense=dense_only(recipe.model))
    set_random_seed(recipe.seed)
    return rehearse(recipe, prepare_explained(prepare, recipe))


def prepare_explained(prepare, recipe, **kwargs):
    """``prepare(recipe, **kwargs)``, with a failure that is not already kerasforge's (a model that cannot be
    built or fitted on the real data) turned into one paragraph naming the field, as ``kforge train`` and
    ``kforge check --data`` both report it."""
    try:
        return prepare(recipe, **kwargs)
    except KerasforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the model cannot be built or fitted on the real data
        from .saving_check import _first_line

        raise TrainError(f"the model could not be prepared on the real data: {_first_line(exc)}",
                         where=_custom_field(recipe, "model") or "model",
                         fix="Check model.* (input_shape, the first layers) against the data (data.*); "
                         "--debug shows the traceback.") from None


def describe(figures: dict[str, Any]) -> str:
    """One line: what the rehearsal ran and how long it took.

    >>> describe({"examples": 16, "train_loss": 2.3, "eval": {"loss": 2.2}, "reload_max_abs_diff": 0.0,
    ...           "seconds": 1.25})
    'ok in 1.2 s (16 examples: a training step, loss 2.3; evaluation, 1 metric; prediction; save/reload/predict)'
    """
    metrics = len(figures.get("eval", {}))
    return (f"ok in {figures['seconds']:.1f} s ({figures['examples']} examples: a training step, loss "
            f"{figures['train_loss']:.3g}; evaluation, {metrics} metric{'s' if metrics != 1 else ''}; prediction; "
            "save/reload/predict)")


def _rehearsal_error(what: str, where: str | None, fix: str | None, stage: str) -> TrainError:
    return TrainError(f"the rehearsal before training failed in {stage}: {what.rstrip('.')}", where=where,
                      fix=(fix or "").rstrip(".") + ". Nothing was trained (train.rehearsal: false or --no-rehearsal "
                      "skips this check).")


# ---------------------------------------------------------------------------------------------------
# a throwaway copy of the state
# ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def throwaway_state(model) -> Iterator[Any]:
    """Everything ``model`` and its optimizer hold, and the global random states, put back on exit; yields a
    function that puts the variables back earlier (e.g. to look at the untrained model again).

    The optimizer is built first (as a resumed run builds it), so its initial state can be kept too.
    """
    import random

    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])
    global_seeds = _global_seed_variables()
    variables += global_seeds
    saved = [np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in variables]
    python_state, numpy_state = random.getstate(), np.random.get_state()
    tf_rng = _tensorflow_rng()
    tf_state = tf_rng.getstate() if tf_rng is not None else None
    def put_back() -> None:
        for variable, value in zip(variables, saved, strict=True):
            variable.assign(value)

    try:
        yield put_back
    finally:
        put_back()
        with contextlib.suppress(Exception):
            model.reset_metrics()
        from .training.fastpath import _forget_compiled_functions

        _forget_compiled_functions(model)  # traced again by fit, with its own settings
        _forget_new_global_seed_generator(bool(global_seeds))
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if tf_rng is not None:
            tf_rng.setstate(tf_state)


def _global_seed_variables() -> list:
    """Keras' global seed generator's state, when one exists (asking for it would create one)."""
    try:
        from keras.src.backend.common import global_state

        generator = global_state.get_global_attribute("global_seed_generator")
    except Exception:  # noqa: BLE001 - an older/newer Keras without it: nothing to keep
        return []
    return [generator.state] if generator is not None else []


def _forget_new_global_seed_generator(existed: bool) -> None:
    """A global seed generator made during the rehearsal is dropped, so that the run makes its own as before."""
    if existed:
        return
    with contextlib.suppress(Exception):
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("global_seed_generator", None)


def _tensorflow_rng():
    """TensorFlow's eager op-seed generator (a ``random.Random``), when TensorFlow is already imported."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.eager import context

        return getattr(context.context(), "_rng", None)
    except Exception:  # noqa: BLE001
        return None


# ---------------------------------------------------------------------------------------------------
# the steps' own checks
# ---------------------------------------------------------------------------------------------------
def _first(value, n: int):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: v[:n] for k, v in value.items()}
    return value[:n]


def _rows(x) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def _number(value) -> float:
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return float("nan")


def _predict(model, x) -> list[np.ndarray]:
    from .saving_check import _predict as predict_arrays

    return predict_arrays(model, x)


def _check_finite_features(x) -> None:
    for name, value in (x.items() if isinstance(x, dict) else [("", x)]):
        array = np.asarray(value)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise _Found(f"the training features{f' {name!r}' if name else ''} contain NaN or infinite values",
                         "data", "Clean or impute the data (data.path), or drop the rows that hold them.")


def _explain_non_finite(recipe, model, x, y) -> None:
    """The first step's loss, computed before any update, is NaN or infinite: the model's outputs or the loss."""
    predicted = _predict(model, x)
    if not all(np.all(np.isfinite(p)) for p in predicted):
        raise _Found("the untrained model already outputs NaN or infinite values, so the first loss is NaN",
                     "model", "Look for a layer or initializer with extreme values (kernel_initializer, a "
                     "Rescaling scale, a custom layer) in model.layers, and keep the inputs' scale small "
                     "(data.normalize).")
    raise _Found("the loss of the very first training step (before any update) is NaN or infinite",
                 _loss_field(recipe), "The loss does not fit the model's outputs: a loss that takes "
                 "probabilities (from_logits: false) given values outside [0, 1], a log of 0, or a custom loss "
                 "that divides by zero. Match train.loss to the last layer's activation.")


def _check_outputs(recipe, prepared, model, predicted: list[np.ndarray], y) -> None:
    """Each output's shape against its labels, and probabilities where the loss expects probabilities."""
    from .training.compile import output_names

    names = output_names(model)
    labels = y if isinstance(y, dict) else {names[0]: y}
    several = len(predicted) > 1
    for index, (name, out) in enumerate(zip(names, predicted, strict=False)):
        where = f"model.outputs[{index}]" if several else "model.layers[-1]"
        target = labels.get(name)
        if target is None:
            continue
        target = np.asarray(target)
        encoding = prepared.encodings.get(name, next(iter(prepared.encodings.values()), "raw"))
        out_units = out.shape[-1] if out.ndim > 1 else 1
        if out.ndim > 2:
            raise _Found(f"the output {name!r} gives one {list(out.shape[1:])} array per example, but the labels "
                         f"are {list(target.shape[1:]) or 'one value'} per example", where,
                         "Add a Flatten (or a global pooling) layer before the final Dense.")
        if encoding == "one_hot" and target.ndim == 2 and out_units != target.shape[-1]:
            raise _Found(f"the output {name!r} has {out_units} units but the one-hot labels have "
                         f"{target.shape[-1]} columns", where, f"Set units: {target.shape[-1]} on {where}.")
        if encoding in ("raw", "binary") and target.ndim <= 2 and out_units != (
                target.shape[-1] if target.ndim == 2 else 1):
            raise _Found(f"the output {name!r} has {out_units} units but there is "
                         f"{target.shape[-1] if target.ndim == 2 else 1} label value per example, so the loss "
                         "would be broadcast over the units", where,
                         f"Set units: {target.shape[-1] if target.ndim == 2 else 1} on {where}.")
        _check_probabilities(recipe, model, name, out, where, len(names))


def _check_probabilities(recipe, model, name: str, out: np.ndarray, where: str, outputs: int) -> None:
    import keras

    loss = _loss_object(model, name, outputs)
    loss_name = (type(loss).__name__ if isinstance(loss, keras.losses.Loss)
                 else str(getattr(loss, "__name__", ""))).lower()
    logits = getattr(loss, "from_logits", None)
    if logits is None:
        logits = (getattr(loss, "_fn_kwargs", None) or {}).get("from_logits", False)
    if "crossentropy" not in loss_name or logits:
        return
    field = _loss_field(recipe, name if outputs > 1 else None)
    if out.size and (np.min(out) < -1e-4 or np.max(out) > 1 + 1e-4):
        raise _Found(f"the output {name!r} gives values from {np.min(out):.3g} to {np.max(out):.3g}, but {field} "
                     "treats them as probabilities (from_logits is false), so training would be silently wrong",
                     f"{where}.activation", f"Give {where} a softmax (several classes) or sigmoid (binary) "
                     f"activation, or set from_logits: true in {field}.")
    if "categorical" in loss_name and out.ndim == 2 and out.shape[-1] > 1:
        sums = out.sum(axis=-1)
        if np.max(np.abs(sums - 1)) > 1e-2:
            raise _Found(f"the output {name!r} does not sum to 1 over its {out.shape[-1]} classes (sums "
                         f"{np.min(sums):.3g} to {np.max(sums):.3g}), but {field} expects one probability "
                         "per class", f"{where}.activation", f"Use activation: softmax on {where} (sigmoid is "
                         "for one-unit binary or multi-label outputs).")


def _loss_object(model, name: str, outputs: int):
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        return loss.get(name)
    if isinstance(loss, list | tuple):
        return loss[0] if loss else None
    return loss


def _round_trip(recipe, prepared, x, predicted: list[np.ndarray]) -> float:
    """Save into a temporary folder as the run will, reload (safe mode) as ``saving_check`` does, predict."""
    from .lean import tensorflow_left_out
    from .saving import FILE_NAMES, save_model
    from .saving_check import _compare, _first_line, _Mismatch, _reload

    formats = [f for f in recipe.output.formats if f in FILE_NAMES] + (
        ["weights"] if recipe.model.kind == "python" else [])
    with tempfile.TemporaryDirectory(prefix="kforge-rehearsal-") as tmp, tensorflow_left_out():
        folder = Path(tmp)
        try:
            save_model(prepared.model, folder, formats or ["keras"])
        except KerasforgeError as exc:
            raise _Found(f"the model cannot be saved: {_first_line(exc.__cause__ or exc)}", "model",
                         "Layers and models written in Python need get_config() for .keras/.h5 (or keep "
                         "output.formats to 'weights').") from None
        try:
            model, _ = _reload(recipe, prepared, folder)
            got = _predict(model, x)
            figures = _compare(predicted, got)
        except _Mismatch as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001
            problem = _first_line(exc)
        else:
            if figures["passed"]:
                return figures["max_abs_diff"]
            problem = f"the reloaded model predicts differently (max abs difference {figures['max_abs_diff']:.3g})"
    raise _Found(f"the model saves but does not come back: {problem}", _custom_field(recipe, "model") or "model",
                 "A layer whose get_config() does not rebuild it is the usual cause: give custom layers a "
                 "get_config() returning every __init__ argument and register them with "
                 "@keras.saving.register_keras_serializable().")


# ---------------------------------------------------------------------------------------------------
# an exception -> the recipe field most likely at fault
# ---------------------------------------------------------------------------------------------------
def explain(exc: BaseException, recipe, prepared, x, y, stage: str) -> tuple[str, str, str]:
    """``(what, where, fix)`` for an exception raised by a step: user code named in the recipe first (by the
    traceback), then each part tried alone outside the compiled step, then the message's class."""
    from .saving_check import _first_line

    cause = _first_line(exc)
    user = _user_code_field(exc, recipe)
    if user is not None:
        field, origin = user
        return f"your code ({origin}) failed on the {_backend()} backend: {cause}", field, _user_code_fix(cause, y)
    isolated = _isolate(recipe, prepared, x, y)
    if isolated is not None:
        where, why, fix = isolated
        return why, where, fix
    lowered = cause.lower()
    if "dtype" in lowered or "cannot convert" in lowered or re.search(r"\b(int|float|string)\d*\b.*\b(expected|"
                                                                        r"incompatible|must be)", lowered):
        return (f"a data type does not fit: {cause}", "model",
                "A layer receives a dtype it cannot take (e.g. strings or floats into an Embedding, ints into a "
                "layer that needs floats): check the first layers' dtype and the data's (data.*).")
    if re.search(r"shape|rank|dimension|incompatible", lowered):
        return (f"shapes do not fit: {cause}", _loss_field(recipe),
                "The loss, the labels and the last layer must agree: class ids (data.labels: sparse) with "
                "sparse_categorical_crossentropy and one unit per class, one-hot rows with "
                "categorical_crossentropy, one unit with binary_crossentropy or regression losses.")
    return (f"{cause}", "model", "Check model.*, train.loss and train.metrics; kforge check --data --debug shows "
            "the traceback.")


def _user_code_fix(cause: str, y) -> str:
    """The fix for a failure inside user code, by the kind of failure."""
    lowered = cause.lower()
    labels = (f"The labels are {np.asarray(y).dtype} shaped {list(np.shape(y))} (Keras may hand them over as "
              "float32)") if not isinstance(y, dict) else "The labels come one array per output"
    if "tracer" in lowered or "numpy" in lowered or "symbolic" in lowered or "concrete value" in lowered:
        return ("Write it with keras.ops (not numpy, .numpy(), float() or Python if/for on tensors), so it runs "
                "inside the compiled step on every backend; train.run_eagerly: true helps to debug it.")
    if "dtype" in lowered or "integer" in lowered or re.search(r"\b(int|float)\d*\b", lowered):
        return (f"{labels}: cast what your code needs as integers with keras.ops.cast(y_true, 'int32'), and keep "
                "float math in float32.")
    if re.search(r"shape|rank|dimension|broadcast", lowered):
        return (f"{labels} (class ids for losses of your own unless data.labels says one_hot): set data.labels: "
                "one_hot if your code expects one-hot rows, or make it take what it is given.")
    return "Fix the error in that code; train.run_eagerly: true lets you step through it with a debugger."


def _backend() -> str:
    import keras

    return keras.backend.backend()


def references_in(recipe) -> dict[str, str]:
    """Recipe field -> ``module:Name`` for every reference to user code in ``recipe``.

    >>> from kerasforge.recipe import load_recipe
    >>> references_in(load_recipe({"data": {"dataset": "digits"}, "model": {"layers": ["Flatten", "Dense"]},
    ...                            "train": {"loss": "my_losses:loss"}}))
    {'train.loss.type': 'my_losses:loss'}
    """
    from .references import is_reference

    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, str) and is_reference(value):
            found[path] = value

    walk(recipe.to_dict(), "")
    return found


def _user_code_field(exc: BaseException, recipe) -> tuple[str, str] | None:
    """The recipe field whose ``module:Name`` code appears deepest in the exception's traceback (or its text:
    TensorFlow and JAX quote the user frames of a traced function in the message)."""
    files: dict[str, str] = {}
    for field, ref in references_in(recipe).items():
        module = sys.modules.get(ref.split(":", 1)[0])
        path = getattr(module, "__file__", None)
        if path and not field.startswith(("train.callbacks", "output", "data")):
            files.setdefault(str(Path(path).resolve()), _field_of(field))
    if not files:
        return None
    hits: list[tuple[str, str]] = []
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame in traceback.extract_tb(current.__traceback__):
            resolved = str(Path(frame.filename).resolve()) if frame.filename else ""
            if resolved in files:
                hits.append((files[resolved], f"{Path(frame.filename).name}, line {frame.lineno}, in {frame.name}"))
        for path, field in files.items():
            match = re.search(re.escape(path) + r'", line (\d+)', str(current))
            if match:
                hits.append((field, f"{Path(path).name}, line {match.group(1)}"))
        current = current.__cause__ or current.__context__
    return hits[-1] if hits else None


def _field_of(path: str) -> str:
    """``train.metrics[1].type`` -> ``train.metrics[1]``; ``model.ref`` stays."""
    return path[: -len(".type")] if path.endswith(".type") else path


def _isolate(recipe, prepared, x, y) -> tuple[str, str, str] | None:
    """Run the forward pass, the loss and each metric alone, eagerly, on the examples; the first that fails."""
    import keras

    model = prepared.model
    try:
        out = model(x, training=False)
    except Exception as exc:  # noqa: BLE001
        from .saving_check import _first_line

        return (_custom_field(recipe, "model") or "model", f"the model cannot run on the data's examples: "
                f"{_first_line(exc)[:400]}",
                "A layer does not fit the data's shape or dtype: check model.layers (input_shape, the first "
                "layers) against the data (data.*).")
    outputs = keras.tree.flatten(out)
    from .training.compile import output_names

    names = output_names(model)
    labels = y if isinstance(y, dict) else {names[0]: y}
    for i, name in enumerate(names[: len(outputs)]):
        loss = _loss_object(model, name, len(names))
        target = labels.get(name)
        if loss is None or target is None:
            continue
        try:
            keras.ops.convert_to_numpy(loss(keras.ops.convert_to_tensor(target), outputs[i]))
        except Exception as exc:  # noqa: BLE001
            from .saving_check import _first_line

            encoding = prepared.encodings.get(name, "")
            return (_loss_field(recipe, name if len(names) > 1 else None),
                    f"the loss does not fit the labels ({encoding or 'as encoded'}, shaped "
                    f"{list(np.shape(target))}) and the output (shaped {list(outputs[i].shape)}): "
                    f"{_first_line(exc)[:400]}",
                    "Match the loss to the labels: class ids need sparse_categorical_crossentropy (or a loss "
                    "that takes ids), one-hot rows categorical_crossentropy (data.labels: one_hot), and the last "
                    "layer needs one unit per class.")
    metric = _failing_metric(recipe, prepared, outputs[0], labels.get(names[0]))
    if metric is not None:
        return metric
    return None


def _failing_metric(recipe, prepared, output, target) -> tuple[str, str, str] | None:
    import keras

    from .training.compile import make_metrics
    from .training.sparse_metrics import wrap_for_sparse_labels

    if target is None:
        return None
    sparse = "sparse" in next(iter(prepared.encodings.values()), "")
    for i, spec in enumerate(recipe.train.metrics):
        try:
            (metric,) = make_metrics([spec], where=f"train.metrics[{i}]")
            if sparse and len(output.shape) == 2 and output.shape[-1] > 1:
                (metric,) = wrap_for_sparse_labels([metric], int(output.shape[-1]))
            if isinstance(metric, str):
                continue  # a name Keras resolves itself (accuracy): it fits any labels
            if hasattr(metric, "update_state"):
                metric.update_state(keras.ops.convert_to_tensor(target), output)
                keras.ops.convert_to_numpy(metric.result())
            else:
                keras.ops.convert_to_numpy(metric(keras.ops.convert_to_tensor(target), output))
        except Exception as exc:  # noqa: BLE001
            from .saving_check import _first_line

            return (f"train.metrics[{i}]", f"the metric {spec.type!r} does not fit the labels "
                    f"({next(iter(prepared.encodings.values()), '')}, shaped {list(np.shape(target))}) and "
                    f"the output (shaped {list(output.shape)}) ({_first_line(exc)[:300]})",
                    "Remove it, or pick one made for these labels (e.g. SparseCategoricalAccuracy for class "
                    "ids, AUC/Precision/Recall with one sigmoid unit or one-hot labels).")
    return None


def _loss_field(recipe, output: str | None = None) -> str:
    loss = recipe.train.loss
    if isinstance(loss, dict) and output:
        return f"train.loss.{output}"
    return "train.loss"


def _custom_field(recipe, prefix: str) -> str | None:
    """The first field under ``prefix`` naming user code (``model.layers[2]``, ``model.ref``), if any."""
    for field in references_in(recipe):
        if field.startswith(prefix):
            return _field_of(field)
    return None
