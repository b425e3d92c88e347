"""A run's evaluation, diagnosis, plots and ``report.html``, from in-memory data or from the run folder.

Example:
    >>> path = report_run("runs/fashion_mnist_cnn-20261123-101500")   # doctest: +SKIP
    >>> path.name                                                       # doctest: +SKIP
    'report.html'
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..runs import read_json
from ..training.callbacks import write_json_atomic
from . import plots
from .page import render_run_page

GRID_EXAMPLES = 24
GRID_TOP_LOSSES = 18


@dataclass
class ReportInputs:
    """What a report needs besides the run folder: the model and one split's data.

    ``x`` is fitted to the model; ``images`` are the same examples in their natural layout (for the
    grids; ``None`` when the data are not images); ``y`` holds class ids (targets for regression).
    """

    model: Any
    x: Any
    y: np.ndarray
    task: str
    class_names: list[str]
    images: np.ndarray | None = None
    texts: Any = None
    train_labels: np.ndarray | None = None
    split: str = "test"
    batch_size: int = 256
    seed: int = 0
    # a multi-output model: every output's labels, task and classes (kerasforge.evaluate.outputs.OutputLabels);
    # the first output is then the one ``y``/``task``/``class_names`` and the main plots describe
    outputs: Any = None
    # a report rebuilt from what the run folder kept (kerasforge.report.saved_data): ``x`` holds only the
    # rows ``rows`` of a split of ``split_examples``; ``predictions`` stands for the model's output on
    # them when the rows themselves were too large to keep (``x`` is then ``None``); ``left_out`` says
    # in one line what the rebuilt report lacks
    rows: np.ndarray | None = None
    split_examples: int | None = None
    predictions: np.ndarray | None = None
    left_out: str | None = None


def model_summary_text(model) -> str:
    """``model.summary()`` as plain text ('' when the model cannot summarise itself)."""
    lines: list[str] = []
    try:
        model.summary(print_fn=lambda text, *args, **kwargs: lines.append(str(text)))
    except Exception:  # an unbuilt subclassed model
        return ""
    return "\n".join(lines)


def write_report(run_dir: Path, inputs: ReportInputs) -> Path:
    """Write ``evaluation.json``, ``diagnosis.json``, ``plots/*.png`` and ``report.html``; returns the page."""
    from ..evaluate import diagnose, evaluate_split

    run_dir = Path(run_dir)
    start = time.perf_counter()
    if inputs.outputs is not None:  # the main (first) output stands for the model in the one-output parts
        main = inputs.outputs.main
        train = (inputs.outputs.train_labels or {}).get(main)
        inputs = dataclasses.replace(inputs, y=inputs.outputs.labels[main], task=inputs.outputs.tasks[main],
                                     class_names=list(inputs.outputs.class_names[main]),
                                     train_labels=train if train is not None else inputs.train_labels)
    history = read_json(run_dir / "history.json", {}) or {}
    run_info = read_json(run_dir / "run.json", {}) or {}
    # the diagnosis first: it needs only the history, and explains a run whose evaluation then fails
    findings = diagnose(history, run_info=run_info, train_labels=inputs.train_labels,
                        num_classes=len(inputs.class_names), task=inputs.task, class_names=inputs.class_names)
    if inputs.outputs is not None:  # a multi-output model: the rules on each output's own curves too
        from ..evaluate.outputs import diagnose_outputs

        findings = sorted([*findings, *diagnose_outputs(history, inputs.outputs)],
                          key=lambda f: f["severity"] != "problem")
    write_json_atomic(run_dir / "diagnosis.json", {"findings": findings,
                                                   "problems": sum(f["severity"] == "problem" for f in findings)})
    if inputs.outputs is not None:
        from .outputs import evaluate_every_output

        evaluation, predictions, picked, extra_plots = evaluate_every_output(run_dir / "plots", inputs)
    elif inputs.predictions is not None:
        from ..evaluate import evaluate_predictions

        picked = np.arange(len(inputs.y))
        predictions = inputs.predictions
        evaluation = evaluate_predictions(predictions, np.asarray(inputs.y), picked, task=inputs.task,
                                          class_names=inputs.class_names, top_losses=GRID_TOP_LOSSES)
        extra_plots = {}
    else:
        evaluation, predictions, picked = evaluate_split(
            inputs.model, inputs.x, inputs.y, task=inputs.task, class_names=inputs.class_names,
            batch_size=inputs.batch_size, seed=inputs.seed, top_losses=GRID_TOP_LOSSES)
        extra_plots = {}
    evaluation["split"] = inputs.split
    if inputs.rows is not None:  # positions among the kept rows -> indices in the split
        _in_split(evaluation, np.asarray(inputs.rows), inputs.split_examples or len(inputs.rows))
    if inputs.left_out:
        evaluation["left_out"] = inputs.left_out
    write_json_atomic(run_dir / "evaluation.json", evaluation)
    images = {**make_plots(run_dir / "plots", history, evaluation, predictions, picked, inputs), **extra_plots}
    summary = model_summary_text(inputs.model)
    (run_dir / "model_summary.txt").write_text(summary, encoding="utf-8")
    report = run_dir / "report.html"
    report.write_text(render_run_page(run_dir, evaluation=evaluation, findings=findings, images=images,
                                      model_summary=summary, texts=_texts(inputs, evaluation)),
                      encoding="utf-8")
    from ..runs import update_run_info

    update_run_info(run_dir, report={"path": report.name, "seconds": round(time.perf_counter() - start, 3)})
    from ..lifecycle import set_parts

    set_parts(run_dir, report="done")
    return report


def make_plots(folder: Path, history: dict, evaluation: dict, predictions: np.ndarray, picked: np.ndarray,
               inputs: ReportInputs) -> dict[str, Path]:
    """Every plot that fits the run: curves always; confusion matrix, grids and ROC for classifiers."""
    out = {"curves": plots.training_curves(history, folder / "training_curves.png")}
    if inputs.task == "regression":
        return out
    out["confusion"] = plots.confusion_heatmap(evaluation, folder / "confusion_matrix.png")
    if inputs.images is not None and np.asarray(inputs.images).ndim == 4:
        names = evaluation["class_names"]
        first = np.arange(min(GRID_EXAMPLES, len(picked)))
        rows = [{"true": names[int(inputs.y[picked[i]])], "predicted": names[int(predictions[i].argmax())],
                 "probability": float(predictions[i].max())} for i in first]
        out["predictions"] = plots.image_grid(np.asarray(inputs.images)[picked[first]], rows,
                                              folder / "predictions.png",
                                              title=f"predictions on the first {len(rows)} {inputs.split} examples")
        worst = evaluation["top_losses"]
        at = "position" if inputs.rows is not None else "index"  # kept rows only: their positions
        out["top_losses"] = plots.image_grid(np.asarray(inputs.images)[[r[at] for r in worst]], worst,
                                             folder / "top_losses.png",
                                             title=f"the {len(worst)} {inputs.split} examples with the highest loss")
    if evaluation.get("roc"):
        out["roc"] = plots.roc_curve_plot(evaluation["roc"], folder / "roc_curve.png")
    return out


def _texts(inputs: ReportInputs, evaluation: dict) -> dict[int, str]:
    """Snippets of the top-loss examples when the inputs are texts (shown in the report's table)."""
    if inputs.texts is None:
        return {}
    texts = inputs.texts  # an array, or texts still in the decoded cache: only these rows are read
    at = "position" if inputs.rows is not None else "index"
    return {r["index"]: str(texts[int(r[at])])[:240] for r in evaluation["top_losses"]}


def _in_split(evaluation: dict, rows: np.ndarray, split_examples: int) -> None:
    """Top-loss indices (and each output's) from positions among ``rows`` to indices in the whole split."""
    done: set[int] = set()  # the main output's rows are listed in its own section too: mapped once
    for part in [evaluation, *(evaluation.get("outputs") or {}).values()]:
        top = part.get("top_losses") or []
        if id(top) not in done:
            done.add(id(top))
            for row in top:
                row["position"] = row["index"]
                row["index"] = int(rows[row["index"]])
        part["sampled"], part["split_examples"] = bool(len(rows) < split_examples), int(split_examples)


def report_run(path: str | Path) -> Path:
    """Rebuild evaluation, diagnosis, plots and ``report.html`` from a run folder alone.

    The data are loaded again from the run's recipe (same seed, same split) and fitted to the saved model;
    a run trained on data given in Python uses what its folder kept (:mod:`.saved_data`).
    """
    from ..data import fit_features, load_dataset, split_validation
    from ..pipeline import model_input_shape
    from ..runs import load_run

    run = load_run(path)
    recipe = run.recipe
    if recipe.data.dataset == "python":
        from .saved_data import saved_inputs

        return write_report(run.path, saved_inputs(run))
    from ..data.scaling import match_model

    ds = load_dataset(recipe.data, seed=recipe.seed, compact=True,  # as the training loaded it
                      validation_split=0.0 if recipe.data.imbalance else recipe.train.validation_split)
    match_model(ds, run.model)  # raw pixels when the model scales them itself, else scaled here
    ds = split_validation(ds, recipe.train.validation_split, seed=recipe.seed, stratify=recipe.data.stratify)
    split = recipe.evaluate.split
    x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_val, ds.y_val)
    shape = model_input_shape(run.model)
    fitted = x if shape is None else fit_features(x, shape, where=f"data ({split} features)")
    from ..data.targets import output_heads
    from ..training.compile import output_names

    heads = output_heads(ds, recipe.data.targets, output_names(run.model))  # a multi-output model's labels
    inputs = ReportInputs(model=run.model, x=fitted, y=y, task=ds.task, class_names=list(ds.class_names),
                          images=x if ds.kind == "image" else None, texts=x if ds.kind == "text" else None,
                          train_labels=ds.y_train, split=split, seed=recipe.seed,
                          batch_size=recipe.evaluate.batch_size or recipe.train.batch_size,
                          outputs=heads.for_split(split) if heads else None)
    return write_report(run.path, inputs)
