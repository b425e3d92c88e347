"""Optimizer, loss and metrics from the recipe, and ``model.compile``.

Names are Keras' own (``adam``, ``sparse_categorical_crossentropy``, ``AUC``...); a misspelt one gets
a "did you mean" hint. When the recipe gives no loss, it is chosen from the task, so that labels and
loss always agree (the classic "accuracy stuck at 10%" mistake cannot happen).

Example:
    >>> losses = compile_model(model, recipe.train, task="multiclass", num_classes=10)   # doctest: +SKIP
    >>> losses
    {'output': 'sparse_categorical_crossentropy'}
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import RecipeError, did_you_mean
from ..recipe import LossSpec, MetricSpec, OptimizerSpec, TrainSpec


def make_optimizer(spec: OptimizerSpec, where: str = "train.optimizer"):
    """A Keras optimizer from its name and kwargs."""
    import keras

    cls = _lookup(keras.optimizers, spec.type, where=f"{where}.type", kind="optimizer",
                  base=keras.optimizers.Optimizer)
    kwargs = spec.kwargs
    if hasattr(kwargs.get("learning_rate"), "type"):  # a schedule object: {type: ExponentialDecay, ...}
        kwargs["learning_rate"] = make_lr_schedule(kwargs["learning_rate"], where=f"{where}.learning_rate")
    return _construct(cls, kwargs, where)


def make_lr_schedule(spec: Any, where: str = "train.optimizer.learning_rate") -> Any:
    """A ``keras.optimizers.schedules`` object (or ``module:Name``) from ``{type: ..., kwargs}``.

    >>> from kerasforge.recipe import KerasObject
    >>> make_lr_schedule(KerasObject(type="ExponentialDecay", initial_learning_rate=0.1, decay_steps=10,
    ...                              decay_rate=0.5)).__class__.__name__
    'ExponentialDecay'
    """
    import keras

    base = keras.optimizers.schedules.LearningRateSchedule
    if ":" in spec.type:
        from ..references import load_reference

        obj = load_reference(spec.type, where=f"{where}.type")
        schedule = obj(**spec.kwargs) if inspect.isclass(obj) else obj
        if not (isinstance(schedule, base) or (callable(schedule) and not inspect.isclass(schedule))):
            raise RecipeError(f"{spec.type!r} is not a learning-rate schedule", where=f"{where}.type",
                              fix="Point it at a keras.optimizers.schedules.LearningRateSchedule subclass.")
        return schedule
    cls = _lookup(keras.optimizers.schedules, spec.type, where=f"{where}.type", kind="learning-rate schedule",
                  base=base)
    return _construct(cls, spec.kwargs, where)


def make_loss(spec: LossSpec | None, default: str, where: str = "train.loss") -> tuple[Any, str]:
    """The Keras loss object and its canonical snake_case name (used to encode the labels)."""
    import keras

    if spec is None:
        spec = LossSpec(type=default)
    if ":" in spec.type:
        from ..reference_kinds import expect
        from ..references import load_reference

        fn = expect(spec.type, load_reference(spec.type, where=f"{where}.type"), "loss", where=f"{where}.type")
        return (fn(**spec.kwargs) if inspect.isclass(fn) else fn), spec.type
    cls = _lookup(keras.losses, spec.type, where=f"{where}.type", kind="loss", base=keras.losses.Loss)
    return _construct(cls, spec.kwargs, where), canonical_loss_name(spec.type)


def canonical_loss_name(name: str) -> str:
    """``SparseCategoricalCrossentropy`` -> ``sparse_categorical_crossentropy``."""
    import re

    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name[:1].isupper() else name.lower()
    return {"mean_squared_error": "mse", "mean_absolute_error": "mae"}.get(snake, snake)


def make_metrics(specs: list[MetricSpec], where: str = "train.metrics") -> list:
    """Keras metric objects (or names Keras resolves itself, like ``accuracy``)."""
    import keras

    metrics = []
    for i, spec in enumerate(specs):
        here = f"{where}[{i}]"
        if ":" in spec.type:
            from ..reference_kinds import expect
            from ..references import load_reference

            metrics.append(expect(spec.type, load_reference(spec.type, where=here), "metric", where=here))
        elif spec.type in ("accuracy", "acc") and not spec.kwargs:
            metrics.append("accuracy")
        else:
            cls = _lookup(keras.metrics, spec.type, where=f"{here}.type", kind="metric",
                          base=keras.metrics.Metric)
            kwargs = dict(spec.kwargs)
            if inspect.isclass(cls) and "name" not in kwargs and _default_name(cls) is None:
                # Keras numbers unnamed metrics per process (auc, auc_1...): fix the name the history,
                # metrics.json and reports use
                kwargs["name"] = _snake_case(cls.__name__)
            metrics.append(_construct(cls, kwargs, here))
    return metrics


def compile_model(model, spec: TrainSpec, *, task: str | dict[str, str],
                  default_loss: str | dict[str, str]) -> dict[str, str]:
    """Compile ``model`` as the recipe says; returns output name -> canonical loss name.

    ``task`` and ``default_loss`` may be dicts keyed by output name (a multi-output model whose outputs
    learn different labels, see :mod:`kerasforge.data.targets`); ``train.loss``, ``train.metrics`` and
    ``train.loss_weights`` may be dicts keyed by output name, checked against the model's outputs.
    """
    outputs = output_names(model)
    tasks = task if isinstance(task, dict) else dict.fromkeys(outputs, task)
    defaults = default_loss if isinstance(default_loss, dict) else dict.fromkeys(outputs, default_loss)
    for field_name in ("loss", "loss_weights", "metrics"):
        _check_output_keys(getattr(spec, field_name), outputs, f"train.{field_name}")
    if isinstance(spec.loss, dict):
        built = {name: make_loss(spec.loss.get(name), defaults[name], f"train.loss.{name}") for name in outputs}
    elif len(set(defaults.values())) > 1 and spec.loss is None:  # outputs of different tasks
        built = {name: make_loss(None, defaults[name], f"train.loss.{name}") for name in outputs}
    else:
        single = make_loss(spec.loss, defaults[outputs[0]])
        built = {name: single for name in outputs}
    loss_weights = spec.loss_weights

    def metrics_for(name: str):
        specs = spec.metrics.get(name, []) if isinstance(spec.metrics, dict) else spec.metrics
        where = f"train.metrics.{name}" if isinstance(spec.metrics, dict) else "train.metrics"
        return _for_task(make_metrics(specs, where=where), tasks[name])

    if len(outputs) == 1:
        metrics = metrics_for(outputs[0])
        classes = _output_units(model)
        if built[outputs[0]][1] == "sparse_categorical_crossentropy" and classes > 1:
            from .sparse_metrics import wrap_for_sparse_labels

            metrics = wrap_for_sparse_labels(metrics, classes)  # AUC, Precision... on class ids
        loss, metric_arg = built[outputs[0]][0], metrics
    else:
        loss = {name: obj for name, (obj, _) in built.items()}
        metric_arg = {name: metrics_for(name) for name in outputs}
    jit = spec.jit_compile if spec.jit_compile != "auto" else "auto"
    model.compile(optimizer=make_optimizer(spec.optimizer), loss=loss, loss_weights=loss_weights,
                  metrics=metric_arg, steps_per_execution=spec.steps_per_execution,
                  jit_compile=False if spec.run_eagerly else jit, run_eagerly=spec.run_eagerly)
    return {name: canonical for name, (_, canonical) in built.items()}


def _check_output_keys(value: Any, outputs: list[str], where: str) -> None:
    """A RecipeError naming the field when a per-output dict names an output the model does not have."""
    if not isinstance(value, dict):
        return
    unknown = [k for k in value if k not in outputs]
    if unknown:
        raise RecipeError(f"the model has no output called {unknown[0]!r}." + did_you_mean(unknown[0], outputs),
                          where=f"{where}.{unknown[0]}",
                          fix=f"Key {where} by the model's output names: {', '.join(outputs)}.")


def _for_task(metrics: list, task: str) -> list:
    """Accuracy means nothing for a regression (it reported 0.0): there it is the mean absolute error.

    >>> _for_task(["accuracy"], "regression"), _for_task(["accuracy"], "binary")
    (['mae'], ['accuracy'])
    """
    if task != "regression":
        return metrics
    swapped = ["mae" if m == "accuracy" else m for m in metrics]
    return list(dict.fromkeys(swapped)) if all(isinstance(m, str) for m in swapped) else swapped


def _output_units(model) -> int:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return 0


def output_names(model) -> list[str]:
    """Names of the model's outputs (functional models name them; others have one called 'output')."""
    try:
        names = list(model.output_names)
    except (AttributeError, ValueError, TypeError):
        names = []
    return names if len(names) > 1 else names or ["output"]


def _lookup(module: Any, name: str, *, where: str, kind: str, base: type) -> Any:
    """A Keras class (or, for losses and metrics, a function) by its Keras name, in either spelling."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    for candidate in (name, camel):
        found = getattr(module, candidate, None)
        if inspect.isclass(found) and issubclass(found, base):
            return found
    try:
        found = module.get(name)
    except (ValueError, TypeError, AttributeError):
        found = None
    if isinstance(found, base):
        return type(found)
    if callable(found) and not name.startswith("_"):
        return found
    choices = [n for n in dir(module) if not n.startswith("_") and n[:1].isupper()
               and inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), base)]
    raise RecipeError(f"unknown {kind} {name!r}." + did_you_mean(name, choices + _snake_names(module)),
                      where=where, fix=f"Use a Keras {kind} name such as {', '.join(choices[:6])}, "
                      "or 'module:Name' for your own.")


def _snake_names(module: Any) -> list[str]:
    return [n for n in dir(module) if not n.startswith("_") and n.islower()]


def _snake_case(name: str) -> str:
    """``AUC`` -> ``auc``, ``SparseTopKCategoricalAccuracy`` -> ``sparse_top_k_categorical_accuracy``.

    >>> _snake_case("AUC"), _snake_case("SparseTopKCategoricalAccuracy"), _snake_case("Precision")
    ('auc', 'sparse_top_k_categorical_accuracy', 'precision')
    """
    import re

    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()  # as Keras names an unnamed metric


def _default_name(cls: Any) -> str | None:
    """The default of a metric class's ``name`` argument (``None`` when Keras picks, and numbers, one)."""
    try:
        param = inspect.signature(cls.__init__).parameters.get("name")
    except (TypeError, ValueError):
        return "unknown"
    return "unknown" if param is None else param.default


def _construct(cls: Any, kwargs: dict[str, Any], where: str) -> Any:
    if not inspect.isclass(cls):
        if kwargs:
            raise RecipeError(f"{cls.__name__} is a plain function and takes no arguments here", where=where,
                              fix="Use its class name (e.g. SparseCategoricalCrossentropy) to pass arguments.")
        return cls
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        params = accepted_arguments(cls)
        bad = next((k for k in kwargs if k not in params), None)
        name = getattr(cls, "__name__", str(cls))
        if bad:
            raise RecipeError(f"{name} has no argument {bad!r}." + did_you_mean(bad, params), where=f"{where}.{bad}",
                              fix=f"Its arguments are: {', '.join(sorted(params))}.") from None
        raise RecipeError(f"{name} rejected its arguments: {exc}", where=where,
                          fix="Check the values against the Keras documentation of that class.") from None


def accepted_arguments(cls: type) -> set[str]:
    """Keyword arguments ``cls`` accepts, its base classes' included (Keras passes ``**kwargs`` up)."""
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        names |= {p.name for p in inspect.signature(init).parameters.values()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"}
    return names
