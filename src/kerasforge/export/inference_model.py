"""The inference model: RAW inputs in, probabilities out, the training preprocessing built in as layers.

``Input(raw) -> Rescaling (pixels 0..255 -> the training scale, offset and divisor) -> Reshape (to the
model's input) -> trained model, without its augmentation layers -> Softmax/Sigmoid (only when the model
emits logits)``. Sequences (int32
word ids) and raw text (a model with TextVectorization inside) go to the model unchanged.

Example:
    >>> spec = build_inference_model(run)                           # doctest: +SKIP
    >>> spec.model.predict(pixels_0_255).shape, spec.raw.description  # doctest: +SKIP
    ((8, 10), 'raw pixel values 0..255, float32, shaped (N, 28, 28, 1)')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.dataset import input_dtype
from .errors import ExportError
from .inference_graph import without_training_layers
from .views import cut_views, raw_info, run_views

INPUT_NAMES = {"image": "pixels", "sequence": "word_ids", "text": "text", "tabular": "features"}


@dataclass
class RawInput:
    """What the exported model takes: one RAW example's shape, its dtype and what the values mean."""

    name: str
    kind: str
    shape: list[int | None]
    dtype: str
    description: str

    def as_card(self) -> dict[str, Any]:
        """The card's ``input`` entry (shape with the batch dimension first, as ``None``)."""
        return {"name": self.name, "kind": self.kind, "shape": [None, *self.shape], "dtype": self.dtype,
                "description": self.description}


@dataclass
class InferenceModel:
    """The wrapped Keras model plus the facts the model card records about it."""

    model: Any
    raw: RawInput
    output: dict[str, Any]
    built_in: list[str] = field(default_factory=list)  # the preprocessing layers added, in words


def build_inference_model(run) -> InferenceModel:
    """Wrap the trained model of ``run`` (a loaded :class:`kerasforge.Run`) so that it takes RAW inputs and
    gives probabilities.

    >>> wrapped = build_inference_model(kerasforge.load_run("runs/fashion_mnist_cnn-20261123-101500"))  # doctest: +SKIP
    """
    import keras

    info = run.data_info or {}
    views = None
    if _several_inputs(run, info):  # views of one raw example (data.views): the graph cuts them itself
        views = run_views(run)
        if views is None:
            raise ExportError("this model has several named inputs that are not views of one raw example; "
                              "exports take one raw input", where=str(run.path),
                              fix="Cut the inputs from one example with `data.views`, or use this run's model.keras "
                                  "with Keras directly (keras.saving.load_model), feeding each input.")
        info = raw_info(info, views)
    kind = info.get("kind") or "tabular"
    natural = info.get("input_shape")
    model_shape = info.get("model_input_shape") or natural
    if natural is None:
        raise ExportError("data.json records no input_shape", where=str(run.path / "data.json"),
                          fix="Train the run again with this version of kerasforge.")
    natural = [None if d is None else int(d) for d in natural]
    dtype = input_dtype(kind)
    name = INPUT_NAMES.get(kind, "features")
    raw = keras.Input(shape=tuple(natural), dtype=dtype, name=name)
    x, built_in = raw, []
    if kind in ("image", "tabular"):
        scale, offset, words = _rescaling(info.get("preprocessing") or {}, kind)
        if words:
            x = keras.layers.Rescaling(scale, offset, name="raw_to_training_scale")(x)
            built_in.append(words)
        inside = (info.get("preprocessing") or {}).get("in_model")
        if inside:  # compact images: the trained model's first layer scales raw pixels itself
            built_in.append(f"Rescaling inside the trained model (its first layer): (raw - {inside['offset']}) / "
                            f"{inside['divisor']} (normalize: {inside.get('normalize')})")
    if model_shape is not None and list(model_shape) != natural and None not in model_shape:
        x = keras.layers.Reshape(tuple(int(d) for d in model_shape), name="to_model_input")(x)
        built_in.append(f"Reshape {tuple(natural)} -> {tuple(model_shape)}")
    trained, removed = without_training_layers(trained_model(run))
    if views is not None:
        x = cut_views(x, views, trained)
        built_in.append(views.describe())
    if removed:
        built_in.append("augmentation left out (the identity at inference): " + ", ".join(removed))
    x = trained(x, training=False)  # inference mode in every traced graph (BatchNormalization, Dropout)
    if isinstance(x, dict | list | tuple):  # a multi-output model: every output kept, by name
        from ..evaluate.outputs import logit_outputs
        from .outputs import named_heads

        heads, card = named_heads(x, list(getattr(trained, "output_names", None) or []), info,
                                  logits=logit_outputs(run.recipe, info))
        model = keras.Model(raw, heads, name=f"{run.recipe.name}_inference")
        return InferenceModel(model=model, raw=RawInput(name=name, kind=kind, shape=natural, dtype=dtype,
                                                        description=_describe(kind, natural, info)),
                              output=card, built_in=built_in)
    units = int(x.shape[-1]) if x.shape[-1] is not None else 1
    task = info.get("task") or "multiclass"
    activation = "sigmoid" if units == 1 else "softmax"
    if task != "regression" and _emits_logits(run.recipe):
        x = keras.layers.Activation(activation, name=f"logits_to_{activation}")(x)
        built_in.append(f"{activation} on the model's logits (the loss has from_logits: true)")
    x = keras.layers.Identity(name="probabilities")(x)
    model = keras.Model(raw, x, name=f"{run.recipe.name}_inference")
    return InferenceModel(model=model, raw=RawInput(name=name, kind=kind, shape=natural, dtype=dtype,
                                                    description=_describe(kind, natural, info)),
                          output=_output(task, units, info.get("class_names") or []), built_in=built_in)


def raw_example_model(run) -> tuple[Any, dict[str, Any]] | None:
    """For a run whose model takes views of one raw example (``data.views``): its inference model (one RAW
    example in, probabilities out) and ``data.json``'s facts as that raw input sees them; ``None`` for any
    other run. ``kforge predict`` and ``kforge serve`` use it on such a run folder, so they take plain images.

    >>> model, info = raw_example_model(kerasforge.load_run("runs/multi_input-20261129-101500"))  # doctest: +SKIP
    >>> info["input_shape"]                                                                       # doctest: +SKIP
    [28, 28, 1]
    """
    info = run.data_info or {}
    if not _several_inputs(run, info):
        return None
    views = run_views(run)
    if views is None:
        return None
    return build_inference_model(run).model, raw_info(info, views)


def _several_inputs(run, info: dict) -> bool:
    shapes = (info.get("input_shape"), info.get("model_input_shape"))
    return any(isinstance(s, dict) for s in shapes) or len(getattr(run.model, "inputs", None) or [1]) > 1


def trained_model(run):
    """The run's trained model without optimizer or loss: ``model.keras`` loaded again uncompiled (safe_mode),
    so no export carries Adam's moments; ``run.model`` itself when Keras cannot rebuild the file
    (a subclassed model restored from its weights).
    """
    import keras

    from ..keras_fixes import apply

    apply()
    path = Path(run.path) / "model.keras"
    if path.is_file():
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception:  # load_run already fell back to the recipe and the weights for these
            pass
    return run.model


def _rescaling(pre: dict[str, Any], kind: str) -> tuple[Any, Any, str]:
    """``(scale, offset, words)`` with ``features = raw * scale + offset`` (as :func:`kerasforge.predict._scale`)."""
    import numpy as np

    if kind == "image":
        if "offset" not in pre:  # no recorded statistics: pixels scaled to [0, 1]
            return 1 / 255.0, 0.0, "Rescaling pixels / 255"
        units = float(pre.get("pixel_max") or 255.0) / 255.0  # 0..255 -> the training data's units
    else:
        if "offset" not in pre:
            return 1.0, 0.0, ""
        units = 1.0
    offset = np.asarray(pre["offset"], dtype="float64")
    divisor = np.asarray(pre["divisor"], dtype="float64")
    scale, shift = units / divisor, -offset / divisor
    if np.allclose(scale, 1.0) and np.allclose(shift, 0.0):
        return 1.0, 0.0, ""

    def plain(a):
        return float(a) if a.ndim == 0 else [float(v) for v in a.ravel()]

    if kind == "image":
        words = (f"Rescaling raw pixels 0..255 to the training scale: (raw * pixel_max / 255 - offset) / divisor "
                 f"with pixel_max {pre.get('pixel_max') or 255}, offset {pre['offset']}, divisor {pre['divisor']} "
                 f"(normalize: {pre.get('normalize')})")
    else:
        words = (f"Rescaling raw features to the training scale: (raw - offset) / divisor with offset "
                 f"{pre['offset']}, divisor {pre['divisor']} (normalize: {pre.get('normalize')})")
    return plain(scale), plain(shift), words


def _emits_logits(recipe) -> bool:
    loss = getattr(recipe.train, "loss", None)
    if loss is None or isinstance(loss, dict):
        return False
    return bool((getattr(loss, "kwargs", None) or {}).get("from_logits"))


def _describe(kind: str, shape: list, info: dict) -> str:
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    if kind == "image":
        channels = {1: "grayscale", 3: "RGB", 4: "RGBA"}.get(shape[-1] if shape else 0, "")
        return f"raw pixel values 0..255, float32, layout (N, {dims}) {channels}".strip()
    if kind == "sequence":
        pre = info.get("preprocessing") or {}
        return (f"word ids, int32, shaped (N, {dims}), padded/cut to maxlen {pre.get('maxlen')} with "
                f"Keras' IMDB ids (1 = start, 2 = out of vocabulary, ids < num_words {pre.get('num_words')})")
    if kind == "text":
        return "raw text, one string per example, shaped (N,)"
    return f"raw feature values (as in the training data, before normalisation), float32, shaped (N, {dims})"


def _output(task: str, units: int, class_names: list) -> dict[str, Any]:
    if task == "regression":
        meaning = "the predicted value"
    elif units == 1:
        positive = class_names[1] if len(class_names) > 1 else "1"
        meaning = f"probability of class 1 ({positive!r}); class 0 is 1 - p"
    else:
        meaning = "class probabilities in the order of class_names (they sum to 1)"
    return {"name": "probabilities", "shape": [None, units], "dtype": "float32", "meaning": meaning}
