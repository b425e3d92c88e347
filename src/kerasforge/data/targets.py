"""Labels per model output: ``data.targets`` expressions and per-output label arrays.

A model with several outputs (``model.outputs: [digit, parity]``) learns each from its own labels, as
Keras takes ``y`` as a dict keyed by output name. The labels of an output come from, in this order:

* ``data.targets.<output>``: an expression over ``label`` (the dataset's labels), e.g. ``"label % 2"``,
  ``"label >= 5"``, ``"label in [0, 6, 8, 9]"`` (numbers, ``+ - * / // % **``, comparisons, ``in``,
  ``& | ~``, ``and``/``or``/``not``); true/false become 1/0;
* per-output arrays the data brought itself (``kerasforge.train(recipe, data=(x, {"digit": y1, ...}))``);
* else the dataset's labels (every output learns the same labels, as before).

Each output's task is inferred from its labels: the dataset's own task and class names for the dataset's
labels; otherwise whole numbers with two values are ``binary``, more ``multiclass``, fractions ``regression``.

Example:
    >>> import numpy as np
    >>> derive("label % 2", np.array([3, 4, 7]), where="data.targets.parity").tolist()
    [1, 0, 1]
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, RecipeError, did_you_mean

SPLITS = ("train", "validation", "test")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
           ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_EXPR_FIX = ("Write an expression over `label`, e.g. \"label % 2\", \"label >= 5\" or \"label in [0, 6, 8, 9]\" "
             "(numbers, + - * / // % **, comparisons, in, & | ~, and/or/not).")


def derive(expression: str, label: np.ndarray, *, where: str) -> np.ndarray:
    """The labels ``expression`` gives for the dataset's ``label`` array (booleans become 0/1 ints).

    Only arithmetic, comparisons and ``in`` on ``label`` and numbers are allowed; nothing is ``eval``-ed.

    >>> derive("label >= 5", np.array([1, 5, 9]), where="data.targets.high").tolist()
    [0, 1, 1]
    >>> derive("label in [0, 8]", np.array([0, 3, 8]), where="x").tolist()
    [1, 0, 1]
    """
    try:
        tree = ast.parse(str(expression).strip(), mode="eval")
    except SyntaxError as exc:
        raise RecipeError(f"{expression!r} is not a valid expression ({exc.msg})", where=where, fix=_EXPR_FIX) from None
    with np.errstate(all="ignore"):
        value = np.asarray(_evaluate(tree.body, np.asarray(label), expression, where))
    if value.shape != np.shape(label):
        value = np.broadcast_to(value, np.shape(label)).copy()
    if value.dtype == bool:
        return value.astype(np.int64)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise RecipeError(f"{expression!r} gives NaN or infinite labels", where=where,
                          fix="Avoid dividing by zero or taking powers that overflow.")
    return value


def _evaluate(node: ast.AST, label: np.ndarray, expression: str, where: str) -> Any:
    def ev(n: ast.AST) -> Any:
        return _evaluate(n, label, expression, where)

    if isinstance(node, ast.Name) and node.id == "label":
        return label
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [ev(e) for e in node.elts]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](ev(node.left), ev(node.right))
    if isinstance(node, ast.UnaryOp):
        operand = ev(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not | ast.Invert):
            return np.logical_not(operand)
    if isinstance(node, ast.BoolOp):
        values = [np.asarray(ev(v), dtype=bool) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out
    if isinstance(node, ast.Compare):
        left, result = ev(node.left), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = ev(right_node)
            if isinstance(op, ast.In | ast.NotIn):
                part = np.isin(left, np.asarray(right))
                part = ~part if isinstance(op, ast.NotIn) else part
            elif type(op) in _COMPARE:
                part = _COMPARE[type(op)](left, right)
            else:
                break
            result = part if result is None else np.logical_and(result, part)
            left = right
        else:
            return result
    what = "the name " + repr(node.id) if isinstance(node, ast.Name) else f"`{ast.unparse(node)}`"
    raise RecipeError(f"{expression!r} uses {what}, which a target expression cannot", where=where, fix=_EXPR_FIX)


@dataclass
class Heads:
    """The labels, task and classes of every output of a multi-output model.

    ``labels[split][output]`` are class ids (floats for regression); ``tasks``/``class_names`` per output.
    """

    names: list[str]
    tasks: dict[str, str]
    class_names: dict[str, list[str]]
    labels: dict[str, dict[str, np.ndarray | None]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> dict[str, int]:
        """Classes per output (1 for a regression output)."""
        return {n: 1 if self.tasks[n] == "regression" else len(self.class_names[n]) for n in self.names}

    def split(self, split: str) -> dict[str, np.ndarray] | None:
        """Labels of every output for one split (``None`` when the split is absent)."""
        got = self.labels.get(split) or {}
        return None if any(got.get(n) is None for n in self.names) else {n: got[n] for n in self.names}

    def for_split(self, split: str) -> Any:
        """One split's labels as :class:`kerasforge.evaluate.outputs.OutputLabels` (for the report)."""
        from ..evaluate.outputs import OutputLabels

        return OutputLabels(names=list(self.names), tasks=dict(self.tasks), class_names=dict(self.class_names),
                            labels=self.split(split) or {}, train_labels=self.split("train"))

    def describe(self) -> dict[str, Any]:
        """What ``data.json`` records per output: task, classes and where the labels came from."""
        return {n: {"task": self.tasks[n], "class_names": self.class_names[n], "labels": self.sources[n]}
                for n in self.names}


def output_heads(dataset: Any, targets: dict[str, str] | None, outputs: list[str]) -> Heads | None:
    """Per-output labels for a model with ``outputs``; ``None`` for one output fed the dataset's labels.

    ``targets`` is the recipe's ``data.targets``; per-output arrays the data brought are in
    ``dataset.y_outputs`` (split -> output -> array).

    >>> import numpy as np
    >>> from kerasforge.data.dataset import Dataset
    >>> ds = Dataset("toy", np.zeros((4, 2)), np.array([0, 1, 2, 3]), np.zeros((2, 2)), np.array([4, 5]),
    ...              [str(i) for i in range(6)])
    >>> heads = output_heads(ds, {"parity": "label % 2"}, ["digit", "parity"])
    >>> heads.tasks, heads.split("test")["parity"].tolist()
    ({'digit': 'multiclass', 'parity': 'binary'}, [0, 1])
    """
    given = dict(getattr(dataset, "y_outputs", None) or {})
    brought = list(dict.fromkeys(k for split in given.values() for k in split))
    _check_names(targets or {}, outputs, "data.targets", RecipeError)
    if getattr(dataset, "source", "") == "python":  # y given as a dict: every key must be an output
        _check_names(dict.fromkeys(brought), outputs, "data= (the labels dict y)", DataError)
    brought = [k for k in brought if k in outputs]  # a data file's labels of outputs this model lacks: unused
    if len(outputs) <= 1 and not targets and not brought:
        return None
    primary = {"train": dataset.y_train, "validation": dataset.y_val, "test": dataset.y_test}
    heads = Heads(names=list(outputs), tasks={}, class_names={})
    heads.labels = {split: {} for split in SPLITS}
    for name in outputs:
        if targets and name in targets and name not in brought:
            where = f"data.targets.{name}"
            for split in SPLITS:
                y = primary[split]
                heads.labels[split][name] = None if y is None else derive(targets[name], y, where=where)
            heads.sources[name] = f"data.targets: {targets[name]}"
        elif name in brought:
            for split in SPLITS:
                heads.labels[split][name] = (given.get(split) or {}).get(name)
            column = (targets or {}).get(name)  # a CSV column named in data.targets, else arrays given in Python
            heads.sources[name] = f"column {column!r}" if column else "given per output"
            known = getattr(dataset, "output_classes", {}).get(name)
            if known:  # the source's own class names (e.g. the words of a CSV column)
                heads.tasks[name], heads.class_names[name] = known
                continue
        else:
            for split in SPLITS:
                heads.labels[split][name] = primary[split]
            heads.tasks[name], heads.class_names[name] = dataset.task, list(dataset.class_names)
            heads.sources[name] = "the dataset's labels"
            continue
        heads.tasks[name], heads.class_names[name] = infer_task(
            [heads.labels[s][name] for s in SPLITS], where=f"data.targets.{name}" if name in (targets or {}) else "data=")
        if heads.tasks[name] != "regression":
            for split in SPLITS:
                if heads.labels[split][name] is not None:
                    heads.labels[split][name] = np.asarray(heads.labels[split][name]).astype(np.int64)
    return heads


def infer_task(arrays: list[np.ndarray | None], *, where: str) -> tuple[str, list[str]]:
    """``(task, class_names)`` of labels: whole numbers >= 0 are classes, fractions a regression.

    >>> infer_task([np.array([0, 1, 1]), None], where="x")
    ('binary', ['0', '1'])
    >>> infer_task([np.array([0.5, 2.0])], where="x")
    ('regression', ['value'])
    """
    present = [np.asarray(a).reshape(-1) for a in arrays if a is not None and len(a)]
    if not present:
        raise DataError("has no labels", where=where, fix="Give labels for the training split.")
    values = np.concatenate(present)
    if values.dtype.kind not in "biuf":
        raise DataError(f"holds {values.dtype} labels, not numbers", where=where,
                        fix="Give integer class ids (0, 1, ...) or numbers for a regression.")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise DataError("holds NaN or infinite labels", where=where, fix="Remove or fill those examples.")
    whole = values.dtype.kind in "biu" or bool(np.all(np.mod(values, 1) == 0))
    if not whole or values.min() < 0:
        return "regression", ["value"]
    classes = max(int(values.max()) + 1, 2)
    return ("binary" if classes == 2 else "multiclass"), [str(i) for i in range(classes)]


def _check_names(named: dict, outputs: list[str], where: str, error: type) -> None:
    unknown = [k for k in named if k not in outputs]
    if unknown:
        bad = str(unknown[0])
        raise error(f"the model has no output called {bad!r}." + did_you_mean(bad, outputs),
                    where=f"{where}.{bad}" if where.startswith(("data.", "train.")) else where,
                    fix=f"Use the model's output names: {', '.join(outputs)}.")


def compile_heads(model: Any, recipe: Any, heads: Heads) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """Compile a multi-output ``model`` with each output's own default loss and metrics for its task, and
    encode each output's labels for its loss; returns ``(losses, encodings, y)`` (``y[split][output]``).

    >>> losses, encodings, y = compile_heads(model, recipe, heads)   # doctest: +SKIP
    >>> sorted(y["train"])                                           # doctest: +SKIP
    ['digit', 'parity']
    """
    from ..models import output_shapes
    from ..training.compile import compile_model
    from .labels import default_loss, encode_labels, label_encoding_for

    shapes = output_shapes(model)
    classes = heads.num_classes
    defaults = {n: default_loss(heads.tasks[n], classes[n], (shapes.get(n) or (None,))[-1])  # type: ignore[arg-type]
                for n in heads.names}
    losses = compile_model(model, recipe.train, task=heads.tasks, default_loss=defaults)
    encodings = {n: label_encoding_for(losses[n], recipe.data.labels, heads.tasks[n]) for n in heads.names}  # type: ignore[arg-type]
    y: dict[str, Any] = {}
    for split in SPLITS:
        labels = heads.split(split)
        y[split] = None if labels is None else {
            n: encode_labels(labels[n], encodings[n], classes[n]) for n in heads.names}  # type: ignore[arg-type]
        if y[split] is not None and len(heads.names) == 1:  # one output (its labels from data.targets)
            y[split] = y[split][heads.names[0]]
    return losses, encodings, y


def check_output_fields(recipe: Any) -> None:
    """``kforge check`` without data: ``data.targets`` expressions parse, and every per-output dict
    (``data.targets``, ``train.loss``, ``train.metrics``, ``train.loss_weights``) names outputs the
    functional model declares (``model.outputs``). Other models' output names are known once built."""
    targets = getattr(recipe.data, "targets", None) or {}
    for name, expression in targets.items():
        if recipe.data.dataset == "csv" and str(expression).isidentifier() and expression != "label":
            continue  # a column of the table: checked when the table is read
        derive(expression, np.arange(3), where=f"data.targets.{name}")
    outputs = getattr(recipe.model, "outputs", None)
    if not outputs:
        return
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    _check_names(targets, outputs, "data.targets", RecipeError)
    for field_name in ("loss", "metrics", "loss_weights"):
        value = getattr(recipe.train, field_name)
        if isinstance(value, dict):
            _check_names(value, outputs, f"train.{field_name}", RecipeError)
