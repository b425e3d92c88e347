"""Recipes: the validated, plain-data description of one run.

A recipe is YAML with the sections ``data``, ``model``, ``train``, ``evaluate`` and ``output`` plus
``seed``. Names are the ones Keras uses (``learning_rate``, ``batch_size``, ``validation_split``,
``restore_best_weights``...). Layers, optimizers, losses, metrics and callbacks are written as Keras
class names with Keras' keyword arguments, either as a bare name (``Flatten``, ``adam``) or as a
mapping with a ``type`` key (``{type: Dense, units: 128, activation: relu}``); ``module:Name`` reaches
user code. A recipe may ``extends:`` another one (a file path or a built-in recipe name) and override
fields; mappings merge, lists replace.

Example:
    >>> from kerasforge.recipe import load_recipe
    >>> recipe = load_recipe("recipes/fashion_mnist_cnn.yaml")   # doctest: +SKIP
    >>> recipe.train.epochs                                       # doctest: +SKIP
    10
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import RecipeError, did_you_mean
from .recipe_strict import check_kwargs, reject_bool_numbers

DATASETS = ("fashion_mnist", "mnist", "cifar10", "imdb", "digits", "image_folder", "text_folder", "csv", "parquet",
            "python")  # python: given to kerasforge.train(..., data=...)
KERAS_CALLBACKS = (
    "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger", "TensorBoard",
    "LearningRateScheduler", "BackupAndRestore", "TerminateOnNaN", "LambdaCallback", "RemoteMonitor",
    "ProgbarLogger", "SwapEMAWeights",
)
BUILTIN_RECIPES = Path(__file__).parent / "recipes"


# ---------------------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------------------
class Section(BaseModel):
    """A recipe section: unknown keys are rejected with a "did you mean" hint."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}'.{hint} Allowed keys here: {allowed}",
                        {"key": str(key), "hint": did_you_mean(str(key), allowed),
                         "allowed": ", ".join(sorted(allowed))},
                    )
            reject_bool_numbers(cls.model_fields, data)  # `epochs: true`, `rate: .nan`
        return data


class KerasObject(BaseModel):
    """A Keras class by name plus its keyword arguments: ``{type: Dense, units: 10}`` or ``"Flatten"``."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    type: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, dict) and "type" not in data:
            raise PydanticCustomError(
                "missing_type",
                "needs a 'type' key naming the Keras class (e.g. type: Dense, units: 10), "
                "or just the name as a string; got keys {keys}",
                {"keys": ", ".join(map(str, data)) or "none"},
            )
        if isinstance(data, dict):  # Keras kwargs: real numbers (`1e-3` as text becomes one)
            reject_bool_numbers(cls.model_fields, data)
            extras = {k: v for k, v in data.items() if k not in cls.model_fields}
            data = {**data, **check_kwargs(extras)}
        return data

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments (everything but ``type``)."""
        return dict(self.model_extra or {})


def _objects_named(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------
class ImbalanceSpec(Section):
    """Keep only ``fraction`` of one class's training examples (the test split is left as it is)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, allow_inf_nan=False)

    class_id: NonNegativeInt = Field(alias="class")
    fraction: float = Field(gt=0.0, le=1.0)


class DataSpec(Section):
    """Where the examples come from and how they are prepared.

    >>> DataSpec(dataset="fashion_mnist", subset=2000).subset
    2000
    """

    dataset: Literal[DATASETS]  # type: ignore[valid-type]
    path: str | None = Field(None, description="explicit file or folder (or .zip/.tar.gz) to load from")
    subset: PositiveInt | None = Field(None, description="take N examples of each split (stratified)")
    fallback: Literal[DATASETS] | None = Field(  # type: ignore[valid-type]
        None, description="dataset to use, with a notice, when this one is nowhere to be found offline")
    normalize: Literal["scale", "standardize", "none"] = "scale"
    labels: Literal["auto", "sparse", "one_hot"] = Field(
        "auto", description="label encoding; 'auto' matches the loss")
    stratify: bool = True
    # images
    image_size: tuple[Annotated[int, Field(gt=0, le=8192)], Annotated[int, Field(gt=0, le=8192)]] | None = None
    color_mode: Literal["grayscale", "rgb", "rgba"] | None = None
    # sequences and text
    num_words: Annotated[int, Field(gt=0, le=10_000_000)] = 10_000
    maxlen: Annotated[int, Field(gt=0, le=1_000_000)] = 200
    # tabular
    target: str | None = None
    views: dict[str, list[str] | str] | None = Field(
        None, description="split features into named model inputs: column names (csv) or 'start:stop'")
    targets: dict[str, str] | None = Field(
        None, description="labels per model output: {output: expression over `label`}, e.g. {parity: 'label % 2'}")
    # sources with no test split of their own (folders, csv)
    test_split: float = Field(0.2, ge=0.0, lt=1.0)
    imbalance: ImbalanceSpec | None = Field(
        None, description="make one class rare in the training split: {class: 3, fraction: 0.05}")
    stream: Literal["auto"] | bool = Field(
        "auto", description="stream batches from the decoded cache (true), keep the data in memory (false), or "
                            "decide by the memory pre-flight (auto)")
    validation: str | None = Field(
        None, description="an explicit validation set instead of train.validation_split: a split of the source "
                          "('test', or 'validation' when it has one), or a path (a class-per-folder folder or "
                          "archive, a CSV/Parquet table, an .npz of x/y) resolved like data.path")

    @field_validator("validation", mode="before")
    @classmethod
    def _validation_text(cls, value: Any) -> Any:
        from .data.validation_source import check_validation_value

        return check_validation_value(value)

    @model_validator(mode="after")
    def _check_requirements(self) -> DataSpec:
        if self.dataset in ("image_folder", "text_folder", "csv", "parquet") and not self.path:
            raise PydanticCustomError(
                "path_required", "dataset '{dataset}' needs a 'path' (a folder, .zip or .tar.gz, or a "
                "file for csv or parquet): add `path: my/data` under data",
                {"dataset": self.dataset})
        if self.dataset in ("csv", "parquet") and not self.target:
            raise PydanticCustomError(
                "target_required", "dataset '{dataset}' needs 'target': the name of the column to predict",
                {"dataset": self.dataset})
        return self


# ---------------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------------
class LayerSpec(KerasObject):
    """One layer: a ``keras.layers`` class name (or ``module:Name``) and its kwargs."""


class NodeSpec(LayerSpec):
    """A layer in a functional graph: ``name`` it, and say which ``inputs`` feed it (default: the
    previous node)."""

    inputs: list[str] | str | None = None


class InputSpec(Section):
    """A named model input."""

    shape: list[PositiveInt | None]
    dtype: str | None = Field(None, description="default: float32, int32 for word ids, string for raw text")

    @model_validator(mode="before")
    @classmethod
    def _from_shape(cls, data: Any) -> Any:
        return {"shape": data} if isinstance(data, list) else data


class SequentialModelSpec(Section):
    """``keras.Sequential``: a list of layers, applied in order."""

    kind: Literal["sequential"] = "sequential"
    name: str | None = None
    input_shape: list[PositiveInt | None] | None = Field(
        None, description="default: the shape of one prepared example")
    layers: list[LayerSpec] = Field(min_length=1)


class FunctionalModelSpec(Section):
    """The functional API: named inputs, layers wired by name, one or several outputs."""

    kind: Literal["functional"] = "functional"
    name: str | None = None
    inputs: dict[str, InputSpec] | None = Field(
        None, description="name -> shape; default: one input called 'input' shaped like the data")
    layers: list[NodeSpec] = Field(min_length=1)
    outputs: list[str] | str | None = Field(None, description="default: the last layer")


class PythonModelSpec(Section):
    """A model written in Python: ``module:Name`` of a ``keras.Model`` subclass or a builder function.

    A builder function (or the class) receives ``input_shape`` and ``num_classes`` when its signature
    names them, plus ``kwargs``.
    """

    kind: Literal["python"] = "python"
    ref: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    input_shape: list[PositiveInt | None] | None = None

    @field_validator("kwargs", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return check_kwargs(value) if isinstance(value, dict) else value

    @field_validator("ref")
    @classmethod
    def _module_colon_name(cls, value: str) -> str:
        if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            return value
        raise PydanticCustomError(
            "bad_reference", "'{v}' is not a Python reference: write 'package.module:Name' (a keras.Model "
            "subclass or a function that returns a model)", {"v": value})


def _model_kind(value: Any) -> str:
    if isinstance(value, str):
        return "python"
    if isinstance(value, dict):
        if "kind" in value:
            return str(value["kind"])
        if "ref" in value:
            return "python"
        if "inputs" in value or "outputs" in value:
            return "functional"
        return "sequential"
    return getattr(value, "kind", "sequential")


ModelSpec = Annotated[
    Annotated[SequentialModelSpec, Tag("sequential")]
    | Annotated[FunctionalModelSpec, Tag("functional")]
    | Annotated[PythonModelSpec, Tag("python")],
    Discriminator(_model_kind, custom_error_type="model_kind",
                  custom_error_message="kind must be sequential, functional or python"),
]


# ---------------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------------
class OptimizerSpec(KerasObject):
    """An optimizer by Keras name (``adam``, ``sgd``, ``rmsprop``...) with its kwargs."""

    learning_rate: PositiveFloat | KerasObject | None = Field(
        None, description="a number, or a Keras schedule: {type: ExponentialDecay, initial_learning_rate: 0.01, "
        "decay_steps: 1000, decay_rate: 0.9} (CosineDecay, PiecewiseConstantDecay...) or module:Name")
    clipnorm: PositiveFloat | None = None
    clipvalue: PositiveFloat | None = None
    global_clipnorm: PositiveFloat | None = None
    weight_decay: float | None = Field(None, ge=0)

    @property
    def kwargs(self) -> dict[str, Any]:
        fixed = {k: getattr(self, k) for k in ("learning_rate", "clipnorm", "clipvalue",
                                              "global_clipnorm", "weight_decay")}
        return {**{k: v for k, v in fixed.items() if v is not None}, **(self.model_extra or {})}


class LossSpec(KerasObject):
    """A loss by Keras name (``sparse_categorical_crossentropy``...) with kwargs such as ``from_logits``."""


class MetricSpec(KerasObject):
    """A metric by Keras name (``accuracy``, ``AUC``, ``Precision``...) with its kwargs."""


class _Callback(Section):
    type: str


class EarlyStoppingSpec(_Callback):
    type: Literal["EarlyStopping"]
    monitor: str = "val_loss"
    min_delta: float = Field(0.0, ge=0)
    patience: NonNegativeInt = 0
    verbose: NonNegativeInt = 0
    mode: Literal["auto", "min", "max"] = "auto"
    baseline: float | None = None
    restore_best_weights: bool = False
    start_from_epoch: NonNegativeInt = 0


class ReduceLROnPlateauSpec(_Callback):
    type: Literal["ReduceLROnPlateau"]
    monitor: str = "val_loss"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: NonNegativeInt = 10
    verbose: NonNegativeInt = 0
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: float = Field(1e-4, ge=0)
    cooldown: NonNegativeInt = 0
    min_lr: float = Field(0.0, ge=0)


class ModelCheckpointSpec(_Callback):
    type: Literal["ModelCheckpoint"]
    filepath: str = "checkpoints/best.keras"
    monitor: str = "val_loss"
    verbose: NonNegativeInt = 0
    save_best_only: bool = False
    save_weights_only: bool = False
    mode: Literal["auto", "min", "max"] = "auto"
    save_freq: Literal["epoch"] | PositiveInt = "epoch"
    initial_value_threshold: float | None = None


class CSVLoggerSpec(_Callback):
    type: Literal["CSVLogger"]
    filename: str = "history.csv"
    separator: str = ","
    append: bool = True


class TensorBoardSpec(_Callback):
    type: Literal["TensorBoard"]
    log_dir: str = "tensorboard"
    histogram_freq: NonNegativeInt = 0
    write_graph: bool = True
    write_images: bool = False
    update_freq: Literal["epoch", "batch"] | PositiveInt = "epoch"
    profile_batch: NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] = 0


class LearningRateSchedulerSpec(_Callback):
    """``schedule`` is a named schedule (see ``kerasforge.training.schedules``) or ``module:function``;
    the remaining keys are that schedule's arguments."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    type: Literal["LearningRateScheduler"]
    schedule: str
    verbose: NonNegativeInt = 0

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:  # schedule arguments are free-form (but numbers)
        if isinstance(data, dict):
            reject_bool_numbers(cls.model_fields, data)
            data = {**data, **check_kwargs({k: v for k, v in data.items() if k not in cls.model_fields})}
        return data


class BackupAndRestoreSpec(_Callback):
    type: Literal["BackupAndRestore"]
    backup_dir: str = "backup"
    save_freq: Literal["epoch"] | PositiveInt = "epoch"
    delete_checkpoint: bool = True


class TerminateOnNaNSpec(_Callback):
    type: Literal["TerminateOnNaN"]


class CustomCallbackSpec(KerasObject):
    """``module:Class`` of the user's own ``keras.callbacks.Callback``, or another Keras callback."""

    @field_validator("type")
    @classmethod
    def _known_or_reference(cls, value: str) -> str:
        if ":" in value or value in KERAS_CALLBACKS:
            return value
        raise PydanticCustomError(
            "unknown_callback",
            "unknown callback '{name}'.{hint} Use a Keras callback ({known}) or 'module:Class' for your own",
            {"name": value, "hint": did_you_mean(value, KERAS_CALLBACKS), "known": ", ".join(KERAS_CALLBACKS)},
        )


_TYPED_CALLBACKS = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (EarlyStoppingSpec, ReduceLROnPlateauSpec, ModelCheckpointSpec, CSVLoggerSpec,
                TensorBoardSpec, LearningRateSchedulerSpec, BackupAndRestoreSpec, TerminateOnNaNSpec)
}


def _callback_kind(value: Any) -> str:
    name = value if isinstance(value, str) else (value.get("type") if isinstance(value, dict)
                                                 else getattr(value, "type", None))
    return name if name in _TYPED_CALLBACKS else "custom"


CallbackSpec = Annotated[
    Annotated[EarlyStoppingSpec, Tag("EarlyStopping")]
    | Annotated[ReduceLROnPlateauSpec, Tag("ReduceLROnPlateau")]
    | Annotated[ModelCheckpointSpec, Tag("ModelCheckpoint")]
    | Annotated[CSVLoggerSpec, Tag("CSVLogger")]
    | Annotated[TensorBoardSpec, Tag("TensorBoard")]
    | Annotated[LearningRateSchedulerSpec, Tag("LearningRateScheduler")]
    | Annotated[BackupAndRestoreSpec, Tag("BackupAndRestore")]
    | Annotated[TerminateOnNaNSpec, Tag("TerminateOnNaN")]
    | Annotated[CustomCallbackSpec, Tag("custom")],
    Discriminator(_callback_kind),
]


class TrainSpec(Section):
    """How the model is compiled and fitted (the arguments of ``compile`` and ``fit``)."""

    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(type="adam"))
    loss: LossSpec | dict[str, LossSpec] | None = Field(
        None, description="default: chosen from the task (sparse categorical / binary cross-entropy, MSE)")
    loss_weights: dict[str, float] | list[float] | None = None
    metrics: list[MetricSpec] | dict[str, list[MetricSpec]] = Field(
        default_factory=lambda: [MetricSpec(type="accuracy")],
        description="a list for every output, or {output: [metrics]} per output of a multi-output model")
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)
    shuffle: bool = True
    callbacks: list[CallbackSpec] = Field(default_factory=list)
    class_weight: Literal["balanced"] | dict[int, PositiveFloat] | None = None
    steps_per_execution: PositiveInt = 1
    jit_compile: bool | Literal["auto"] = "auto"
    fast: bool | Literal["auto"] = Field(
        "auto", description="the training fast path (many steps per compiled call, per-backend XLA choice); "
        "auto: on when the data fits in memory and no callback needs per-batch control")
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = Field(
        "auto", description="auto: mixed_bfloat16 (output layers float32) on GPUs with fast bfloat16 and for "
        "convolutional models under TensorFlow on CPUs with AVX-512 BF16/AMX, unless train.fast is false; "
        "else float32")
    verbose: Literal["auto", 0, 1, 2] = "auto"
    run_eagerly: bool = Field(False, description="run the model's Python code step by step (for debugging with "
                              "print/breakpoints; slow): Keras' compile(run_eagerly=True), no fast path")
    rehearsal: bool = Field(True, description="before the first epoch, one training step, one evaluation step, a "
                            "prediction and a save/reload round trip on a few real examples (seconds; catches "
                            "mistakes that would stop training midway); --no-rehearsal skips it")

    @model_validator(mode="before")
    @classmethod
    def _names_to_objects(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("optimizer", "loss"):
                if isinstance(data.get(key), str):
                    data[key] = {"type": data[key]}
            if isinstance(data.get("loss"), dict) and "type" in data["loss"]:  # one loss, not one per output
                try:
                    data["loss"] = LossSpec.model_validate(data["loss"])
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    key = (err.get("ctx") or {}).get("key")
                    raise PydanticCustomError(err["type"] if key else "bad_loss", "{msg}",
                                              {"msg": err["msg"], "key": f"loss.{key}" if key else "loss"}) from None
            for key in ("metrics", "callbacks"):
                if isinstance(data.get(key), list):
                    data[key] = [_objects_named(m) for m in data[key]]
            if isinstance(data.get("metrics"), dict) and "type" in data["metrics"]:  # one metric, not a list
                data["metrics"] = [data["metrics"]]
            if isinstance(data.get("metrics"), dict):  # per output: {digit: [accuracy], parity: accuracy}
                data["metrics"] = {k: [_objects_named(m) for m in (v if isinstance(v, list) else [v])]
                                   for k, v in data["metrics"].items()}
        return data


# ---------------------------------------------------------------------------------------------------
# evaluate, output, recipe
# ---------------------------------------------------------------------------------------------------
class EvaluateSpec(Section):
    """What is measured after training."""

    split: Literal["test", "validation"] = "test"
    batch_size: PositiveInt | None = Field(None, description="default: train.batch_size")


class OutputSpec(Section):
    """Where the run folder goes and what it keeps."""

    dir: str = "runs"
    resume: bool = Field(True, description="resume an interrupted run of the same recipe")
    formats: list[Literal["keras", "h5", "weights"]] = Field(default_factory=lambda: ["keras"])


class ExportSpec(Section):
    """What ``kforge export`` cannot make of this recipe's model, and why (documentation that tests hold
    true: each listed format must fail, every other one must export and verify)."""

    unsupported: dict[Literal["keras", "h5", "weights", "savedmodel", "tflite", "onnx"], str] = Field(
        default_factory=dict, description="format -> the reason it cannot be exported")


# ---------------------------------------------------------------------------------------------------
# search (hyperparameter tuning, see kerasforge.tune)
# ---------------------------------------------------------------------------------------------------
SEARCH_PATH = re.compile(r"[A-Za-z_]\w*(\[-?\d+\]|\.[A-Za-z_]\w*)*")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int")


class ParamSpec(Section):
    """One searched value: ``{choice: [...]}``, ``{uniform: [a, b]}``, ``{log_uniform: [a, b]}`` or
    ``{int: [a, b]}``; ``uniform`` and ``int`` take an optional ``step``, ``int`` an optional ``log``.

    >>> ParamSpec.model_validate({"log_uniform": [1e-4, 1e-2]}).kind
    'log_uniform'
    """

    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = Field(None, alias="int")
    step: PositiveFloat | None = None
    log: bool | None = None

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, allow_inf_nan=False)

    @model_serializer(mode="wrap")
    def _int_as_written(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and "int_range" in data:
            data["int"] = data.pop("int_range")
        return data

    @model_validator(mode="before")
    @classmethod
    def _numbers_from_yaml(cls, data: Any) -> Any:
        # PyYAML reads `1e-4` (no dot) as a string: take numeric-looking strings in a choice as numbers.
        if isinstance(data, dict) and isinstance(data.get("choice"), list):
            data = {**data, "choice": [float(v) if isinstance(v, str) and _NUMBER.fullmatch(v) else v
                                       for v in data["choice"]]}
        return data

    @model_validator(mode="after")
    def _one_distribution(self) -> ParamSpec:
        given = [k for k in _DISTRIBUTIONS if getattr(self, "int_range" if k == "int" else k) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "one_distribution", "needs exactly one of {kinds}, got {given}",
                {"kinds": ", ".join(_DISTRIBUTIONS), "given": ", ".join(given) or "none"})
        kind = given[0]
        if kind == "choice":
            if not self.choice:
                raise PydanticCustomError("empty_choice", "choice needs at least one value, got []", {})
            if self.step is not None or self.log:
                raise PydanticCustomError("choice_options", "choice takes no step or log", {})
            return self
        low, high = self.bounds
        if not low < high:
            raise PydanticCustomError("bad_range", "{kind}: the low bound must be below the high one, got "
                                      "[{low}, {high}]", {"kind": kind, "low": low, "high": high})
        if (kind == "log_uniform" or self.log) and low <= 0:
            raise PydanticCustomError("bad_log_range", "{kind}: a log scale needs bounds above 0, got "
                                      "[{low}, {high}]", {"kind": kind, "low": low, "high": high})
        if kind == "log_uniform" and self.step is not None:
            raise PydanticCustomError("log_step", "log_uniform takes no step (use choice for fixed values)", {})
        if self.log and kind != "int":
            raise PydanticCustomError("log_flag", "log: true goes with int; use log_uniform for floats", {})
        if kind == "int" and self.step is not None and self.step != int(self.step):
            raise PydanticCustomError("int_step", "int: step must be a whole number, got {step}",
                                      {"step": self.step})
        if self.log and self.step is not None:
            raise PydanticCustomError("log_step", "int: log and step cannot be combined", {})
        return self

    @property
    def kind(self) -> str:
        """``choice``, ``uniform``, ``log_uniform`` or ``int``."""
        return next(k for k in _DISTRIBUTIONS if getattr(self, "int_range" if k == "int" else k) is not None)

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a range (not defined for ``choice``)."""
        value = self.int_range if self.kind == "int" else getattr(self, self.kind)
        return value[0], value[1]


class ObjectiveSpec(Section):
    """What a search optimises: a metric of the training history, at its best or its last epoch.

    >>> ObjectiveSpec(metric="val_loss").resolved_direction
    'minimize'
    """

    metric: str = "val_accuracy"
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="default: minimize for losses and errors, maximize otherwise")
    epoch: Literal["best", "last"] = Field(
        "best", description="the metric's best epoch of the history, or its last epoch")
    allow_test_metric: bool = Field(
        False, description="allow a test_* metric (tuning on the test set overstates the result)")

    @model_validator(mode="after")
    def _no_test_set(self) -> ObjectiveSpec:
        if self.metric.startswith("test_") and not self.allow_test_metric:
            raise PydanticCustomError(
                "test_objective",
                "'{metric}' is measured on the test set: choosing hyperparameters by it makes the test "
                "score an optimistic, tuned number instead of an honest estimate. Tune on a validation "
                "metric of the training history ('val_{base}', best or last epoch) and look at {metric} "
                "only for the final model; set allow_test_metric: true only if you really mean it",
                {"metric": self.metric, "base": self.metric[len("test_"):]})
        return self

    @property
    def resolved_direction(self) -> str:
        """The direction, inferred from the metric's name when not given."""
        if self.direction:
            return self.direction
        lowered = self.metric.lower()
        return "minimize" if any(w in lowered for w in ("loss", "error", "mse", "mae")) else "maximize"


class PrunerSpec(KerasObject):
    """An Optuna pruner: ``median`` (default), ``percentile``, ``threshold``, ``hyperband``,
    ``successive_halving``, ``patient`` or ``none``, with the pruner's own keyword arguments."""

    type: Literal["median", "percentile", "threshold", "hyperband", "successive_halving", "patient",
                  "none"] = "median"


class SearchSpec(Section):
    """A hyperparameter search over the recipe it sits in (``kforge tune``).

    >>> s = SearchSpec(params={"train.batch_size": {"choice": [32, 64]}}, trials=4)
    >>> s.params["train.batch_size"].choice, s.objective.metric
    ([32, 64], 'val_accuracy')
    """

    params: dict[str, ParamSpec] = Field(min_length=1, description="recipe path -> distribution")
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    trials: PositiveInt = 20
    timeout: PositiveFloat | None = Field(None, description="seconds; no new trial starts after it")
    sampler: Literal["tpe", "random", "grid", "gp"] = "tpe"
    pruner: PrunerSpec = Field(default_factory=lambda: PrunerSpec(type="median"))
    baseline: bool = Field(False, description="run the recipe's own values first: the score the search must beat")

    @model_validator(mode="before")
    @classmethod
    def _paths_under_params(cls, data: Any) -> Any:
        if isinstance(data, dict):
            stray = [k for k in data if isinstance(k, str) and ("." in k or "[" in k)]
            if stray:
                raise PydanticCustomError(
                    "path_outside_params", "'{key}' looks like a recipe path: put the searched values "
                    "under 'params', as search -> params -> {key}",
                    {"key": stray[0]})
            if isinstance(data.get("pruner"), str):
                data = {**data, "pruner": {"type": data["pruner"]}}
        return data

    @field_validator("params")
    @classmethod
    def _path_syntax(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for path in value:
            if not SEARCH_PATH.fullmatch(path):
                raise PydanticCustomError(
                    "bad_search_path", "'{path}' is not a recipe path: write keys joined by dots and list "
                    "items as [index], e.g. model.layers[0].units", {"path": path})
        return value


class Recipe(Section):
    """A whole run, as plain validated data.

    >>> r = Recipe(data={"dataset": "digits"}, model={"layers": [{"type": "Dense", "units": 10}]})
    >>> r.train.optimizer.type
    'adam'
    """

    name: str = "recipe"
    description: str | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    backend: Literal["auto", "tensorflow", "jax", "torch"] = "auto"
    data: DataSpec
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    search: SearchSpec | None = Field(None, description="hyperparameter search (kforge tune)")
    export: ExportSpec | None = Field(None, description="export formats this model cannot have, with reasons")

    @model_validator(mode="before")
    @classmethod
    def _model_reference(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            data = {**data, "model": {"ref": data["model"]}}
        return data

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\") or value.startswith("."):
            raise PydanticCustomError("bad_name", "must be a plain name without slashes, got '{v}'",
                                      {"v": value})
        return value

    def to_yaml(self) -> str:
        """The resolved recipe as YAML (what a run folder keeps as ``recipe.yaml``)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data, defaults included."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# ---------------------------------------------------------------------------------------------------
# Loading: YAML, extends, error messages with YAML paths
# ---------------------------------------------------------------------------------------------------
def builtin_recipe_names() -> list[str]:
    """Names of the recipes shipped with kerasforge (``kforge recipes``)."""
    return sorted(p.stem for p in BUILTIN_RECIPES.glob("*.yaml"))


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file for a path or a built-in recipe name; a clear error otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = BUILTIN_RECIPES / f"{name_or_path}.yaml"
    if builtin.is_file():
        return builtin
    names = builtin_recipe_names()
    raise RecipeError(
        f"no recipe file {str(name_or_path)!r} and no built-in recipe of that name."
        + did_you_mean(str(name_or_path), names),
        where=str(name_or_path),
        fix=f"Give the path of a YAML file, or one of the built-in recipes: {', '.join(names)}.",
    )


def read_recipe_data(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The recipe's raw mapping with every ``extends:`` applied (no validation yet)."""
    path = resolve_recipe_path(name_or_path).resolve()
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise RecipeError(f"'extends' goes round in a circle: {chain}", where=str(path),
                          fix="Remove one of the 'extends' lines.")
    from .recipe_yaml import check_extends, load_yaml_file

    data = load_yaml_file(path)  # encoding, duplicate keys, alias bombs and nesting checked there
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"must be a mapping of sections (data, model, train...), got {type(data).__name__}",
                          where=str(path), fix="Start the file with keys such as `data:` and `model:`.")
    data.setdefault("name", path.stem)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    check_extends(parent, where=str(path))
    parent_ref = Path(parent)
    if not parent_ref.is_absolute() and (path.parent / parent_ref).is_file():
        parent_ref = path.parent / parent_ref
    base = read_recipe_data(parent_ref if parent_ref.is_file() else str(parent), (*_seen, path))
    base.pop("name", None)
    return deep_merge(base, data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, anything else (lists too) replaces.

    >>> deep_merge({"train": {"epochs": 5, "batch_size": 32}}, {"train": {"epochs": 1}})
    {'train': {'epochs': 1, 'batch_size': 32}}
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_recipe(source: str | Path | dict[str, Any] | Recipe, overrides: list[str] | None = None) -> Recipe:
    """A validated :class:`Recipe` from a file, a built-in name, a mapping or a Recipe.

    ``overrides`` are ``dotted.path=value`` strings (``train.epochs=1``), applied before validation.

    >>> load_recipe({"data": {"dataset": "digits"}, "model": {"layers": ["Flatten"]}}).data.dataset
    'digits'
    """
    if isinstance(source, Recipe) and not overrides:
        return source
    data, where = read_raw_recipe(source, overrides)
    return validate_recipe(data, where=where)


def read_raw_recipe(source: str | Path | dict[str, Any] | Recipe,
                    overrides: list[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """A recipe's raw mapping (``extends`` and ``overrides`` applied, not validated) and the file it came from.

    >>> read_raw_recipe({"data": {"dataset": "digits"}}, ["train.epochs=2"])
    ({'data': {'dataset': 'digits'}, 'train': {'epochs': 2}}, None)
    """
    where = None
    if isinstance(source, Recipe):
        data = source.to_dict()
    elif isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        where = str(resolve_recipe_path(source))
        data = read_recipe_data(source)
    for item in overrides or []:
        apply_override(data, item)
    return data, where


def validate_recipe(data: dict[str, Any], where: str | None = None) -> Recipe:
    """Validate a raw mapping; the first problem becomes a :class:`RecipeError` naming its YAML path."""
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise recipe_error_from(exc, data, where) from None


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``dotted.path=value`` in a raw recipe mapping (the value is parsed as YAML)."""
    if "=" not in item:
        raise RecipeError(f"override {item!r} needs the form path=value", where="--set",
                          fix="Write it like train.epochs=3 or data.subset=1000.")
    from .recipe_yaml import load_yaml_value, set_path

    path, raw = item.split("=", 1)
    set_path(data, path.strip(), load_yaml_value(raw, where=f"--set {path.strip()}"))


def yaml_path(loc: tuple[Any, ...], data: Any) -> str:
    """Turn a pydantic error location into a YAML path like ``train.callbacks[1].patience``.

    Steps the data does not contain (pydantic's union tags) are skipped, except a missing key at the end.
    """
    parts: list[str] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node):
            parts.append(f"[{step}]")
            node = node[step]
        elif isinstance(node, dict) and step in node:
            parts.append(("." if parts else "") + str(step))
            node = node[step]
        elif i == len(loc) - 1 and isinstance(step, str) and step.isidentifier() and step not in _TAGS:
            parts.append(("." if parts else "") + step)
    return "".join(parts) or "(top level)"


_TAGS = {"sequential", "functional", "python", "custom", "str", "LossSpec", *_TYPED_CALLBACKS}


_FIXES = {
    "bool_number": "Write a number.",
    "not_finite": "Write a finite number.",
    "word_number": "Write it in digits, e.g. 10 or 1e-3.",
    "word_bool": "Write true or false.",
    "missing": "Add it.",
    "int_parsing": "Write a whole number.",
    "int_type": "Write a whole number.",
    "float_parsing": "Write a number.",
    "bool_parsing": "Write true or false.",
    "greater_than": "Use a larger value.",
    "greater_than_equal": "Use a larger value.",
    "less_than": "Use a smaller value.",
    "less_than_equal": "Use a smaller value.",
}


_NUMBER_ERRORS = ("bool_number", "not_finite", "word_number", "word_bool")  # raised by recipe_strict, naming their key


def recipe_error_from(exc: ValidationError, data: Any, where: str | None = None) -> RecipeError:
    """The first (most useful) problem of a ``ValidationError`` as a one-paragraph :class:`RecipeError`."""
    errors = exc.errors(include_url=False)
    # Prefer our own explanatory errors, then the deepest location.
    errors.sort(key=lambda e: (e["type"] not in ("unknown_key", "unknown_callback", "missing_type", *_NUMBER_ERRORS),
                               -len(e["loc"])))
    err = errors[0]
    path = yaml_path(tuple(err["loc"]), data)
    if err["type"] in ("unknown_key", *_NUMBER_ERRORS):
        path = f"{path}.{err['ctx']['key']}" if path != "(top level)" else err["ctx"]["key"]
        message = err["msg"]
    elif err["type"] == "literal_error":
        message = f"{_shown(err.get('input'))} is not allowed; use {err['ctx']['expected']}"
    elif err["type"] == "missing":
        message = "is required but missing"
    else:
        message = f"{err['msg'][0].lower()}{err['msg'][1:]}"
        if err["type"] not in ("unknown_callback", "missing_type", "path_required", "target_required",
                               "bad_name", "model_kind", "bad_reference") and "input" in err:
            message += f" (got {_shown(err['input'])})"
    others = {yaml_path(tuple(e["loc"]), data) for e in errors[1:]} - {path, yaml_path(tuple(err["loc"]), data)}
    more = f" ({len(others)} more problem{'s' if len(others) > 1 else ''} after this one.)" if others else ""
    source = f"{where}: " if where else ""
    fix = (_FIXES.get(err["type"]) or "") + more
    return RecipeError(message, where=f"{source}{path}", fix=fix or None)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
