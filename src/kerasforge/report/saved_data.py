"""What the report of a run trained on data given in Python needs, kept in its run folder.

A recipe whose ``data.dataset`` is ``python`` names no data to load again, so ``kforge report RUN`` (and
the background finisher of a run killed before its report) could not rebuild the report. At training time
:func:`report_arrays` therefore adds to the run's ``heldout.npz`` (the raw held-out sample exports verify
on, see :mod:`kerasforge.data.python_data`) the evaluated split as the model takes it — only the rows the
report evaluates (all, or the seeded :data:`~kerasforge.evaluate.evaluation.MAX_EXAMPLES` it samples) —
with their natural layout for the image grids, their labels and the training labels (the diagnosis counts
classes). When those would take more than :data:`REPORT_BYTES`, the model's predictions on those rows are
kept instead: the evaluation, confusion matrix, ROC and curves are rebuilt, the image grids left out (the
rebuilt report says so in one line). :func:`saved_inputs` turns the file back into
:class:`~kerasforge.report.build.ReportInputs`.

Example:
    >>> arrays = report_arrays(recipe, prepared)          # doctest: +SKIP
    >>> inputs = saved_inputs(load_run("runs/own-20261129-101500"))   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.python_data import SAMPLE_FILE
from ..errors import KerasforgeError

REPORT_BYTES = 64 << 20  # the evaluated rows kept whole up to this size; predictions only above it
PREFIX = "report_"


def _rows(x: Any, picked: np.ndarray) -> Any:
    from ..evaluate.evaluation import take

    return take(x, picked)


def _storable(x: np.ndarray) -> np.ndarray:
    """No pickled objects in the file: strings as fixed-width unicode."""
    x = np.asarray(x)
    return x.astype(str) if x.dtype == object else x


def report_arrays(recipe: Any, prepared: Any) -> dict[str, np.ndarray]:
    """The arrays (``report_*`` keys of ``heldout.npz``) from which the run's report can be rebuilt; a
    failure here only leaves the report unrebuildable (said in ``report_left_out``), never the run lost."""
    try:
        return _report_arrays(recipe, prepared)
    except Exception as exc:  # noqa: BLE001 - the model and metrics are saved; the report is made in-process
        return {"report_left_out": np.asarray(f"everything: what the report needs could not be kept "
                                              f"({type(exc).__name__}: {exc})"[:500])}


def _report_arrays(recipe: Any, prepared: Any) -> dict[str, np.ndarray]:
    from ..evaluate.evaluation import MAX_EXAMPLES, pick_examples

    split, ds = recipe.evaluate.split, prepared.dataset
    x = prepared.x[split]
    y = ds.y_test if split == "test" else ds.y_val
    if x is None or y is None:
        return {}
    natural = (ds.x_test if split == "test" else ds.x_val) if ds.kind in ("image", "text") else None
    n = len(y)
    picked = pick_examples(n, MAX_EXAMPLES, recipe.seed)  # the rows write_report evaluates (same seed)
    out: dict[str, np.ndarray] = {
        "report_split": np.asarray(split), "report_rows": picked.astype(np.int64),
        "report_split_examples": np.int64(n), "report_y": np.asarray(y)[picked],
        "report_train_labels": np.asarray(ds.y_train)}
    heads = prepared.heads.for_split(split) if prepared.heads else None
    if heads is not None:
        out["report_outputs"] = np.asarray(json.dumps({"names": heads.names, "tasks": heads.tasks,
                                                       "class_names": heads.class_names}))
        for i, name in enumerate(heads.names):
            out[f"report_y_{i}"] = np.asarray(heads.labels[name])[picked]
            if heads.train_labels and heads.train_labels.get(name) is not None:
                out[f"report_train_y_{i}"] = np.asarray(heads.train_labels[name])
    keep = _row_bytes(x) * len(picked)
    if natural is not None and not isinstance(natural, dict) and natural is not x:
        keep += _row_bytes(natural) * len(picked)  # counted even when it turns out equal to x (kept once)
    if keep <= REPORT_BYTES:
        rows = _rows(x, picked)
        if isinstance(rows, dict):
            out["report_x_names"] = np.asarray(json.dumps(list(rows)))
            out.update({f"report_x_{i}": _storable(v) for i, v in enumerate(rows.values())})
        else:
            out["report_x"] = _storable(rows)
        if natural is not None and not isinstance(natural, dict):
            natural_rows = rows if natural is x else _rows(natural, picked)
            if (not isinstance(rows, dict) and np.shape(rows) == np.shape(natural_rows)
                    and np.asarray(rows).dtype == np.asarray(natural_rows).dtype
                    and np.array_equal(rows, natural_rows)):
                out["report_natural_is_x"] = np.bool_(True)  # the model takes the natural layout: kept once
            else:
                out["report_natural"] = _storable(natural_rows)
        return out
    size = f"the {split} split's {len(picked)} evaluated examples ({keep / 2**20:.0f} MiB)"
    if heads is not None:  # several outputs: their predictions are not kept; the report cannot be rebuilt
        out["report_left_out"] = np.asarray(f"{size} are more than the {REPORT_BYTES >> 20} MiB kept in the run "
                                            "folder, and a model with several outputs has no saved predictions")
        return out
    from ..evaluate.evaluation import predict_in_chunks
    from ..evaluate.predictions import predict_probabilities, predict_values

    batch = recipe.evaluate.batch_size or recipe.train.batch_size
    if ds.task == "regression":
        out["report_predictions"] = predict_in_chunks(predict_values, prepared.model, x, picked, batch_size=batch)
    else:
        out["report_predictions"] = predict_in_chunks(predict_probabilities, prepared.model, x, picked,
                                                      task=ds.task, batch_size=batch)
    if ds.kind in ("image", "text"):
        what = "image grids" if ds.kind == "image" else "texts of the top losses"
        out["report_left_out"] = np.asarray(
            f"the {what}: {size} are more than the {REPORT_BYTES >> 20} MiB kept in the run folder, "
            "so only the model's predictions on them were kept")
    return out


def _row_bytes(x: Any) -> float:
    """Bytes of one example of ``x`` (an array, or a dict of named inputs), without reading it."""
    if isinstance(x, dict):
        return sum(_row_bytes(v) for v in x.values())
    x = np.asarray(x) if not hasattr(x, "nbytes") else x
    n = len(x)
    if np.asarray(x[:1]).dtype == object:  # texts: their lengths in UTF-32, as the file keeps them
        return 4 * float(np.mean([len(str(t)) for t in x[:1000]] or [0])) + 4
    return x.nbytes / n if n else 0.0


def _text(x: np.ndarray) -> np.ndarray:
    return x.astype(object) if x.dtype.kind == "U" else x


def saved_inputs(run: Any) -> Any:
    """:class:`~kerasforge.report.build.ReportInputs` from ``run``'s saved ``report_*`` arrays."""
    from .build import ReportInputs

    file = Path(run.path) / SAMPLE_FILE
    fix = "Train the run again with this kerasforge version: it keeps what the report needs in the run folder."
    try:
        with np.load(file, allow_pickle=False) as saved:
            got = {k: saved[k] for k in saved.files if k.startswith(PREFIX)}
    except FileNotFoundError:
        raise KerasforgeError(f"the run was trained on data given in Python and {SAMPLE_FILE} is not in its folder, "
                              "so its report cannot be rebuilt", where=str(file), fix=fix) from None
    except (OSError, ValueError) as exc:
        raise KerasforgeError(f"{SAMPLE_FILE} cannot be read ({type(exc).__name__}: {exc})", where=str(file),
                              fix=fix) from None
    if "report_y" not in got and "report_left_out" in got:
        raise KerasforgeError(f"its report cannot be rebuilt: left out {got['report_left_out']}", where=str(file),
                              fix=fix)
    if "report_y" not in got:
        raise KerasforgeError("the run was trained on data given in Python by an earlier kerasforge, which kept "
                              "only a sample for exports, so its report cannot be rebuilt", where=str(file), fix=fix)
    if "report_x" not in got and "report_x_names" not in got and "report_predictions" not in got:
        raise KerasforgeError(f"its report cannot be rebuilt: {got.get('report_left_out', 'nothing was kept')}",
                              where=str(file), fix=fix)
    info = run.data_info
    kind = info.get("kind")
    if "report_x_names" in got:
        names = json.loads(str(got["report_x_names"]))
        x: Any = {name: _text(got[f"report_x_{i}"]) for i, name in enumerate(names)}
    else:
        x = _text(got["report_x"]) if "report_x" in got else None
    natural = x if "report_natural_is_x" in got else got.get("report_natural")
    outputs = None
    if "report_outputs" in got:
        from ..evaluate.outputs import OutputLabels

        meta = json.loads(str(got["report_outputs"]))
        names = meta["names"]
        outputs = OutputLabels(names=names, tasks=meta["tasks"], class_names=meta["class_names"],
                               labels={n: got[f"report_y_{i}"] for i, n in enumerate(names)},
                               train_labels={n: got[f"report_train_y_{i}"] for i, n in enumerate(names)
                                             if f"report_train_y_{i}" in got} or None)
    left_out = str(got["report_left_out"]) if "report_left_out" in got else None
    recipe = run.recipe
    return ReportInputs(
        model=run.model, x=x, y=got["report_y"], task=info.get("task", "multiclass"),
        class_names=list(info.get("class_names") or []),
        images=natural if kind == "image" and natural is not None else None,
        texts=_text(natural) if kind == "text" and natural is not None else None,
        train_labels=got["report_train_labels"], split=str(got["report_split"]), seed=recipe.seed,
        batch_size=recipe.evaluate.batch_size or recipe.train.batch_size, outputs=outputs,
        rows=got["report_rows"], split_examples=int(got["report_split_examples"]),
        predictions=got.get("report_predictions"), left_out=left_out)
