"""Evaluation of every output of a multi-output model, one section per output name.

A classification output gets what a single-output classifier gets (accuracy, confusion matrix,
classification report, top losses); a regression output its MAE, MSE, RMSE and R². The first output's
section is also the evaluation's top level, so pages and tools that read one evaluation keep working.

Example:
    >>> sections, predictions, picked = evaluate_outputs(model, x_test, {"digit": y, "parity": y % 2},
    ...     tasks={"digit": "multiclass", "parity": "binary"},
    ...     class_names={"digit": names, "parity": ["0", "1"]})                  # doctest: +SKIP
    >>> sections["parity"]["accuracy"]                                            # doctest: +SKIP
    0.981
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .classification import evaluate_classification, evaluate_regression
from .evaluation import CHUNK, MAX_EXAMPLES, pick_examples, take
from .predictions import to_probabilities


@dataclass
class OutputLabels:
    """One split's labels for every output, with each output's task and class names (for the report)."""

    names: list[str]
    tasks: dict[str, str]
    class_names: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    train_labels: dict[str, np.ndarray] | None = None

    @property
    def main(self) -> str:
        """The first output: the one the report's top-level evaluation and plots describe."""
        return self.names[0]


def named_outputs(raw: Any, names: list[str]) -> dict[str, np.ndarray]:
    """``model.predict``'s result as output name -> array (a dict, a list in output order, or one array).

    >>> sorted(named_outputs([np.zeros((2, 3)), np.ones((2, 1))], ["digit", "parity"]))
    ['digit', 'parity']
    """
    if isinstance(raw, dict):
        return {n: np.asarray(raw[n]) for n in names if n in raw} or {str(k): np.asarray(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return {n: np.asarray(v) for n, v in zip(names, raw, strict=False)}
    return {names[0] if names else "output": np.asarray(raw)}


def predict_outputs(model, x, picked: np.ndarray, *, names: list[str], batch_size: int = 256) -> dict[str, np.ndarray]:
    """Raw predictions of every output on rows ``picked`` of ``x``, :data:`CHUNK` rows at a time."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, len(picked), CHUNK):
        rows = take(x, picked[start:start + CHUNK])
        for name, value in named_outputs(model.predict(rows, batch_size=batch_size, verbose=0), names).items():
            parts.setdefault(name, []).append(value)
    return {n: np.concatenate(v) for n, v in parts.items() if v}


def evaluate_outputs(model, x, labels: dict[str, np.ndarray], *, tasks: dict[str, str],
                     class_names: dict[str, list[str]], batch_size: int = 256, max_examples: int = MAX_EXAMPLES,
                     seed: int = 0, top_losses: int = 18) -> tuple[dict[str, dict], dict[str, np.ndarray], np.ndarray]:
    """One evaluation section per output, each output's predictions (probabilities, or values for a
    regression output) and the indices of the examples used (the same for every output)."""
    names = list(labels)
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    picked = pick_examples(n, max_examples, seed)
    raw = predict_outputs(model, x, picked, names=names, batch_size=batch_size)
    sections: dict[str, dict] = {}
    predictions: dict[str, np.ndarray] = {}
    for name in names:
        if name not in raw:
            continue
        y_used = np.asarray(labels[name])[picked]
        if tasks[name] == "regression":
            values = raw[name].astype(np.float64).reshape(len(picked), -1)[:, 0]
            section, predictions[name] = evaluate_regression(values, y_used, top_losses=top_losses), values
            section["mse"] = None if section.get("rmse") is None else round(section["rmse"] ** 2, 4)
        else:
            predictions[name] = to_probabilities(raw[name], tasks[name])
            section = evaluate_classification(predictions[name], y_used, class_names[name], top_losses=top_losses)
        for row in section["top_losses"]:
            row["position"] = row["index"]
            row["index"] = int(picked[row["index"]])
        section["sampled"], section["split_examples"] = bool(len(picked) < n), n
        sections[name] = section
    return sections, predictions, picked


def headline(sections: dict[str, dict]) -> dict[str, float]:
    """The one figure per output a summary shows: accuracy for a classifier, MAE for a regression.

    >>> headline({"digit": {"task": "multiclass", "accuracy": 0.97}, "age": {"task": "regression", "mae": 2.5}})
    {'digit_accuracy': 0.97, 'age_mae': 2.5}
    """
    out = {}
    for name, section in sections.items():
        key = "mae" if section.get("task") == "regression" else "accuracy"
        if key in section:
            out[f"{name}_{key}"] = section[key]
    return out


def top_per_output(raw: Any, outputs: dict[str, dict], *, top_k: int = 3) -> list[dict[str, dict]]:
    """Per example, each output's answer: its ``top_k`` classes with probabilities, or its ``value``
    (a regression output). ``outputs`` is ``data.json``'s ``outputs`` (task and class names per output).

    >>> rows = top_per_output({"digit": np.array([[0.1, 0.9]]), "age": np.array([[31.5]])},
    ...                       {"digit": {"task": "binary", "class_names": ["a", "b"]}, "age": {"task": "regression"}},
    ...                       top_k=1)
    >>> rows[0]["digit"]["top"], rows[0]["age"]["value"]
    ([('b', 0.9)], 31.5)
    """
    named = named_outputs(raw, list(outputs))
    rows: list[dict[str, dict]] = []
    for name, value in named.items():
        info = outputs.get(name) or {}
        if info.get("task") == "regression":
            answers = [{"value": float(v)} for v in value.astype(np.float64).reshape(len(value), -1)[:, 0]]
        else:
            probs = to_probabilities(value, info.get("task", "multiclass"))
            names = list(info.get("class_names") or [])
            answers = []
            for row in probs:
                order = np.argsort(row)[::-1][:top_k]
                answers.append({"top": [(names[i] if i < len(names) else str(i), float(row[i])) for i in order]})
        for i, answer in enumerate(answers):
            if len(rows) <= i:
                rows.append({})
            rows[i][name] = answer
    return rows


def format_outputs(answers: dict[str, dict]) -> str:
    """One line for ``kforge predict``: every output by name.

    >>> format_outputs({"digit": {"top": [("7", 0.98)]}, "parity": {"top": [("1", 0.99)]}, "age": {"value": 31.5}})
    'digit: 7 0.980 | parity: 1 0.990 | age: 31.5'
    """
    parts = []
    for name, answer in answers.items():
        if "value" in answer:
            parts.append(f"{name}: {answer['value']:.4g}")
        else:
            parts.append(f"{name}: " + ", ".join(f"{c} {p:.3f}" for c, p in answer["top"]))
    return " | ".join(parts)


def diagnose_outputs(history: dict[str, list], outputs: OutputLabels) -> list[dict[str, str]]:
    """The diagnosis rules on each output's own curves (``<output>_accuracy``, ``val_<output>_loss``...),
    each finding titled with the output's name and carrying ``output``; problems first.

    >>> history = {"epoch": [1, 2, 3], "digit_accuracy": [0.1, 0.1, 0.1], "val_digit_accuracy": [0.1, 0.1, 0.1]}
    >>> heads = OutputLabels(["digit"], {"digit": "multiclass"}, {"digit": list("0123456789")},
    ...                      {"digit": np.arange(10)}, {"digit": np.arange(10)})
    >>> [(f["output"], f["code"]) for f in diagnose_outputs(history, heads)]
    [('digit', 'underfitting'), ('digit', 'chance_level')]
    """
    from . import diagnosis as rules

    found = []
    for name in outputs.names:
        own = {"epoch": history.get("epoch") or []}
        for key in ("accuracy", "loss"):
            for prefix in ("", "val_"):
                if f"{prefix}{name}_{key}" in history:
                    own[f"{prefix}{key}"] = history[f"{prefix}{name}_{key}"]
        task = outputs.tasks[name]
        train = (outputs.train_labels or {}).get(name)
        chance = None if task == "regression" else rules.chance_level(train, len(outputs.class_names[name]))
        candidates = [rules.overfitting(own), rules.underfitting(own, chance), rules.oscillating(own),
                      rules.at_chance(own, chance),
                      rules.class_imbalance(train, outputs.class_names[name]) if task != "regression" else None]
        for item in filter(None, candidates):
            found.append({**item, "title": f"Output {name!r}: {item['title']}", "output": name})
    return sorted(found, key=lambda f: f["severity"] != "problem")


def logit_outputs(recipe: Any, data_info: dict | None = None) -> list[str]:
    """Outputs of a multi-output run that emit logits (their loss has ``from_logits: true``; classifiers
    only): predict, serve and the exports apply softmax/sigmoid to those, once.

    >>> from kerasforge.recipe import load_recipe
    >>> recipe = load_recipe("multi_output", ["train.loss.parity={type: binary_crossentropy, from_logits: true}"])
    >>> logit_outputs(recipe, {"outputs": {"digit": {"task": "multiclass"}, "parity": {"task": "binary"}}})
    ['parity']
    """
    outputs = (data_info or {}).get("outputs") or {}
    loss = getattr(getattr(recipe, "train", None), "loss", None)
    if not outputs or loss is None:
        return []

    def from_logits(spec: Any) -> bool:
        return bool((getattr(spec, "kwargs", None) or {}).get("from_logits"))

    return [name for name, info in outputs.items() if info.get("task") != "regression"
            and from_logits(loss.get(name) if isinstance(loss, dict) else loss)]


def activate(values: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, or a sigmoid for one unit: logits made probabilities.

    >>> activate(np.array([[0.0]])).tolist(), activate(np.array([[0.0, 0.0]])).tolist()
    ([[0.5]], [[0.5, 0.5]])
    """
    z = np.asarray(values, dtype="float64")
    if z.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
