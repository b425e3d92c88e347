"""TF Serving's REST API (``tensorflow_serving/g3doc/api_rest.md``): URLs, request bodies, response bodies.

- ``GET /v1/models/M[/versions/N|/labels/L]``: ``{"model_version_status": [...]}`` (GetModelStatusResponse).
- ``GET /v1/models/M[/versions/N|/labels/L]/metadata``: ``{"model_spec", "metadata": {"signature_def": ...}}``
  with the artifact's true input and output tensors (plus kforge's own description under ``kforge``).
- ``POST …:predict``: row (``instances``, values or named objects) or columnar (``inputs``, a value or a
  name -> value object) -> ``predictions`` / ``outputs``; ``{"b64": ...}`` binary values (image bytes for
  image models, text for text models); NaN/Infinity for floats.
- ``POST …:classify`` / ``…:regress`` with ``examples`` (and ``context``) -> ``{"result": ...}``.
- ``signature_name`` is checked; errors are ``{"error": "<message>"}`` with TF Serving's wording.

Example:
    >>> ROUTE.match("/v1/models/fashion/versions/2:predict").group("name", "version", "tail")
    ('fashion', '2', ':predict')
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from .errors import ServeError
from .inputs import Limits, batch_array, contract_warning, dumps
from .named_views import ViewLayout, assemble, assemble_columns, layout_of, names_views
from .registry import ModelRegistry, ServedModel
from .signature import DEFAULT_SIGNATURE, VERB_SIGNATURES, signature_def_map

ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]{1,18})|/labels/(?P<label>[^/:]+))?"
                   r"(?P<tail>:predict|:classify|:regress|/metadata)?$")
WARNING_HEADER = b"x-kforge-warning"
VERSION_HEADER = b"x-kforge-model-version"  # which version answered (TF Serving's REST body does not say)
RunModel = Callable[[ServedModel, np.ndarray], Awaitable[np.ndarray]]


# ---------------------------------------------------------------------------------------------------
# request bodies
# ---------------------------------------------------------------------------------------------------
def _object(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise ServeError(400, "bad_request", "the body must be a JSON object",
                         fix='Send {"instances": [...]} (row format) or {"inputs": [...]} (columnar format).')
    return payload


def check_signature(payload: dict, verb: str) -> None:
    """``signature_name`` must name a signature of this model (default: ``serving_default``)."""
    name = payload.get("signature_name")
    if name in (None, "") or (isinstance(name, str) and name in VERB_SIGNATURES[verb]):
        return
    shown = name if isinstance(name, str) else json.dumps(name)
    raise ServeError(400, "signature_not_found", f'Serving signature key "{shown[:100]}" not found',
                     fix=f"Leave signature_name out or send {DEFAULT_SIGNATURE!r} (GET …/metadata lists the "
                         "signatures).")


def _is_binary(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _named(value: Any, names: tuple[str, ...], where: str) -> Any:
    """The value of the model's one input in ``{name: value}``."""
    if not isinstance(value, dict):
        raise ServeError(400, "bad_request", f"{where} is not an object, but other rows are named objects",
                         where=where, fix="Send every row the same way: all values, or all {name: value}.")
    expected = names[0] if names else "the input"
    if len(value) != 1:
        raise ServeError(400, "bad_request", f"this model has one input ({expected}), but {where} names "
                         f"{len(value)}: {', '.join(sorted(map(str, value)))[:200]}", where=where,
                         fix=f'Send {{"{expected}": value}}, or the value alone.')
    key, inner = next(iter(value.items()))
    if names and key not in names:
        raise ServeError(400, "unknown_input", f"{where} names the input {str(key)[:100]!r}; this model's input "
                         f"is {expected!r}", where=where, fix=f"Name it {' or '.join(map(repr, names))}.")
    return inner


def predict_items(payload: Any, names: tuple[str, ...], *, where_unnamed: bool = False,
                  views: ViewLayout | None = None) -> tuple[Any, str]:
    """The examples of a predict body and its format key (``instances`` or ``inputs``).

    ``names``: the names the model's input answers to (any name when empty). ``views``: a model fed by
    ``data.views`` also takes its inputs by name, put back together into its raw example
    (:mod:`.named_views`).
    """
    payload = _object(payload)
    has_rows, has_columns = "instances" in payload, "inputs" in payload
    if has_rows and has_columns:
        raise ServeError(400, "bad_request", "Both 'instances' and 'inputs' were specified; only one of them "
                         "may be", where="body", fix="Send the row format (instances) or the columnar one (inputs).")
    if not has_rows and not has_columns:
        raise ServeError(400, "bad_request", "Missing 'inputs' or 'instances' key", where="body",
                         fix='Send {"instances": [example, ...]} or {"inputs": [example, ...]}.')
    key = "instances" if has_rows else "inputs"
    value = payload[key]
    if key == "instances":
        if isinstance(value, list) and value and isinstance(value[0], dict) and not _is_binary(value[0]):
            value = [assemble(row, views, f"instances[{i}]") if views and names_views(row, views, names)
                     else _named(row, names, f"instances[{i}]") for i, row in enumerate(value)]
    elif views and names_views(value, views, names):
        value = assemble_columns(value, views, "inputs")
    elif isinstance(value, dict) and not _is_binary(value):
        value = _named(value, names, "inputs")
    return value, key


def example_items(payload: dict, names: tuple[str, ...], shape: tuple | None = None) -> list:
    """One value per ``examples`` entry (``context`` features shared by all), for a one-input model."""
    examples, context = payload.get("examples"), payload.get("context") or {}
    if not isinstance(examples, list) or not examples:
        raise ServeError(400, "bad_request", "'examples' must be a non-empty list of objects (feature -> value)",
                         where="examples", fix='Send {"examples": [{"' + (names[0] if names else "x")
                         + '": value}, ...]}.')
    if not isinstance(context, dict):
        raise ServeError(400, "bad_request", "'context' must be an object (feature -> value)", where="context",
                         fix="Send shared features as an object, or leave context out.")
    items = []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise ServeError(400, "bad_request", f"examples[{i}] is not an object", where=f"examples[{i}]",
                             fix="Each example maps feature names to values.")
        shared = set(example) & set(context)
        if shared:
            raise ServeError(400, "bad_request", f"features in context must not appear in examples; examples[{i}] "
                             f"repeats {sorted(shared)[:5]}", where=f"examples[{i}]",
                             fix="Move the feature into the examples or keep it in context only.")
        features = {**context, **example}
        chosen = [n for n in names if n in features]
        if len(features) == 1:
            value = next(iter(features.values()))
        elif chosen:
            value = features[chosen[0]]
        else:
            raise ServeError(400, "unknown_input", f"examples[{i}] has no feature named "
                             f"{' or '.join(map(repr, names))} (it has {sorted(features)[:10]})",
                             where=f"examples[{i}]", fix=f"Name the feature {names[0]!r}.")
        items.append(_feature_value(value, shape))
    return items


def _feature_value(value: Any, shape: tuple | None) -> Any:
    """A tf.Example-style feature: one number -> [number]; a flat list of numbers -> the input's ``shape``."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return [value]
    size = int(np.prod(shape)) if shape and None not in shape else None
    if size and len(shape) > 1 and isinstance(value, list) and len(value) == size and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return np.asarray(value, dtype="float64").reshape(shape)
    return value


# ---------------------------------------------------------------------------------------------------
# verbs
# ---------------------------------------------------------------------------------------------------
def inputs_array(model: ServedModel, items: Any, limits: Limits, where: str, strict: bool) -> tuple[np.ndarray,
                                                                                                   str | None]:
    """Validated examples and the input contract's warning (an error with ``strict``)."""
    spec = model.engine.spec
    x = batch_array(items, spec, limits, where=where)
    warning = contract_warning(x, spec)
    if warning and strict:
        raise ServeError(400, "inputs_look_scaled", warning, where=where,
                         fix="Send raw pixel values 0..255 (the server runs with --strict-inputs).")
    return x, warning


async def answer(verb: str, model: ServedModel, payload: Any, run_model: RunModel, limits: Limits,
                 strict: bool = False) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The JSON body and extra headers of a ``predict``, ``classify`` or ``regress`` request."""
    payload = _object(payload)
    check_signature(payload, verb)
    if verb == "predict":
        items, key = predict_items(payload, model.input_names, views=layout_of(model.info))
    else:
        shape = model.engine.spec.shape if model.engine.spec.dtype == "float32" else None
        items, key = example_items(payload, model.input_names, shape), "examples"
    x, warning = inputs_array(model, items, limits, key, strict)
    out = np.asarray(await run_model(model, x))
    from .outputs import main_columns, named_predictions

    columns = getattr(model.engine, "output_columns", None)
    if verb == "predict" and columns:  # several named outputs, as TF Serving answers them
        body: dict[str, Any] = {"outputs" if key == "inputs" else "predictions":
                                named_predictions(out, columns, rows=key != "inputs")}
    elif verb == "predict":
        body = {"outputs" if key == "inputs" else "predictions": out}
    elif verb == "classify":
        body = {"result": classify_result(main_columns(out, model.engine), model.class_names)}
    else:
        body = {"result": regress_result(main_columns(out, model.engine), model)}
    headers = [(VERSION_HEADER, str(model.version).encode())]
    if warning:
        body["warning"] = warning
        headers.append((WARNING_HEADER, b"inputs look scaled to [0, 1]; the model takes raw 0..255"))
    return encode(body), headers


def classify_result(out: np.ndarray, class_names: list[str]) -> list:
    """``[[[label, score], ...] per example]`` in the order of the model's classes."""
    from ..predict import _probabilities

    probs = _probabilities(out)
    labels = class_names if len(class_names) == probs.shape[1] else [str(i) for i in range(probs.shape[1])]
    return [[[label, float(p)] for label, p in zip(labels, row, strict=True)] for row in probs]


def regress_result(out: np.ndarray, model: ServedModel) -> list:
    """One value per example (the model must give one value per example)."""
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        return [float(v) for v in out.reshape(-1)]
    raise ServeError(400, "not_a_regression", f"regress needs one output value per example, but {model.name} "
                     f"gives {out.shape[1:]} per example (it is a classifier)", where="path",
                     fix="Use :classify for class scores or :predict for the model's outputs.")


def encode(body: dict[str, Any]) -> bytes:
    """JSON bytes; NaN/Infinity written as TF Serving writes them (``NaN``, ``Infinity``)."""
    finite = all(not isinstance(v, np.ndarray) or v.dtype.kind not in "fc" or bool(np.isfinite(v).all())
                 for v in body.values())
    if finite:
        return dumps({k: np.ascontiguousarray(v, dtype=np.float32) if isinstance(v, np.ndarray)
                      and v.dtype.kind == "f" else v for k, v in body.items()})
    return json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in body.items()},
                      separators=(",", ":"), allow_nan=True).encode()


# ---------------------------------------------------------------------------------------------------
# status and metadata
# ---------------------------------------------------------------------------------------------------
def status_body(registry: ModelRegistry, name: str, version: str | None, label: str | None) -> dict[str, Any]:
    """``GetModelStatusResponse`` as JSON: every version, or the one asked for."""
    try:
        entry = registry.entry(name)
    except ServeError:
        raise ServeError(404, "model_not_found", f"Could not find any versions of model {name[:100]}",
                         fix=f"Served: {', '.join(registry.names()) or 'none'}.") from None
    if label is not None:
        if label not in entry.labels:
            raise ServeError(404, "label_not_found", f"Unrecognized servable version label: {label[:64]}",
                             fix=f"Labels of {name}: {', '.join(sorted(entry.labels)) or 'none'}.")
        version = str(entry.labels[label])
    if version is not None and int(version) not in entry.states:
        raise ServeError(404, "version_not_found", f"Could not find version {version} of model {name}",
                         fix=f"Versions: {', '.join(map(str, sorted(entry.states))) or 'none'}.")
    return {"model_version_status": entry.status(None if version is None else int(version))}


def metadata_body(model: ServedModel) -> dict[str, Any]:
    """``GetModelMetadataResponse`` as JSON (signature_def of the true tensors) plus kforge's description."""
    return {"model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
            "metadata": {"signature_def": {"signature_def": signature_def_map(model.engine.inputs,
                                                                              model.engine.outputs)}},
            "kforge": model.metadata()}
