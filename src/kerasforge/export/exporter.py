"""``export_run``: a run's model in deployable formats, each reloaded in its own runtime and verified
before it is moved into ``<run>/exports/<format>[-<quantize>]/``.

Everything is written in a temporary folder first; only when every requested export has verified are
they moved into place, so a failure leaves the run folder as it was (and ``model.keras`` is only read).

Example:
    >>> results = export_run("runs/fashion_mnist_cnn-20261123-101500", ["onnx", "tflite-float16"])   # doctest: +SKIP
    >>> results["onnx"].verification["max_abs_diff"] < 1e-4                                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..console import say
from ..trust import trust_option
from .card import make_card, read_card, write_card
from .errors import ExportError, all_layers, converter_problem
from .formats import FORMATS, folder_name, parse_formats
from .session import Session, open_session
from .signature import artifact_names
from .verify import DEFAULT_EXAMPLES, check, failure_text

NOTES = {
    "weights": "Weights only: rebuild the inference model with "
               "kerasforge.export.build_inference_model(kerasforge.load_run(RUN)).model, then load_weights().",
    "h5": "Legacy HDF5 format, for tools that cannot read .keras files.",
}


@dataclass
class ExportResult:
    """One verified export: its folder, artifact and model card."""

    format: str
    quantize: str | None
    path: Path
    artifact: Path
    card: dict[str, Any]

    @property
    def verification(self) -> dict[str, Any]:
        """The card's verification figures."""
        return self.card["verification"]


@trust_option
def export_run(run_path: str | Path, formats: Iterable[str] | str, *, quantize: str | None = None,
               output: str | Path | None = None, examples: int = DEFAULT_EXAMPLES,
               base_path: str | Path | None = None) -> dict[str, ExportResult]:
    """Export the run at ``run_path`` to each of ``formats``; returns ``{folder name: ExportResult}``.

    ``formats`` are names of :data:`FORMATS` (``keras``, ``h5``, ``weights``, ``savedmodel``, ``tflite``,
    ``onnx``), comma lists, or ``tflite-float16``-style names; ``quantize`` (``dynamic``/``float16``/``int8``)
    applies to those named without one (``int8``: tflite only, calibrated on the run's training examples).
    Exports go to ``output`` (default ``<run>/exports``). Every export takes RAW inputs and is verified on
    ``examples`` held-out test examples; if any fails, nothing is written and an :class:`ExportError` names
    the format and the layer or op at fault. With ``base_path``
    (one format), the export becomes the next version ``<base_path>/<N>/`` (TF Serving's layout).

    >>> export_run("runs/digits_mlp-20261123-101700", "keras,onnx")   # doctest: +SKIP
    """
    pairs = parse_formats([formats] if isinstance(formats, str) else formats, quantize)
    if base_path is not None and len(pairs) != 1:
        raise ExportError(f"--base-path takes one format, got {len(pairs)}", where="--base-path",
                          fix="Export one format per version, e.g. --format savedmodel --base-path models/NAME.")
    session = open_session(run_path, examples=examples)
    destination = Path(output) if output else Path(run_path) / "exports"
    staging = Path(tempfile.mkdtemp(prefix="kforge-export-"))
    try:
        built = {}
        for fmt, quant in pairs:
            name = folder_name(fmt, quant)
            say(f"  exporting {name} ...")
            built[name] = _export_one(session, fmt, quant, staging / name)
            v = built[name].verification
            say(f"  {name}: verified on {v['examples']} examples, max abs diff {v['max_abs_diff']:.2e}"
                + (f", accuracy {v['accuracy_export']:.4f} (Keras {v['accuracy_keras']:.4f})"
                   if "accuracy_export" in v else ""))
        results = {}
        for name, result in built.items():
            if base_path is not None:
                from .base_path import write_version

                result.path = write_version(staging / name, Path(base_path))
                result.card = read_card(result.path)
                result.artifact = result.path / str(result.card["artifact"])
                results[name] = result
                continue
            result.path = _move_into_place(staging / name, destination / name)
            result.artifact = result.path / result.artifact.name
            results[name] = result
        return results
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export_one(session: Session, fmt: str, quantize: str | None, folder: Path) -> ExportResult:
    spec = FORMATS[fmt]
    impl = spec.implementation()
    folder.mkdir(parents=True)
    name = folder_name(fmt, quantize)
    where = f"{session.run.path} (--format {name})"
    from .outputs import check_format

    check_format(fmt, session.inference.model, where)  # a multi-output model: the formats that carry it
    extra = {"representative": _representative(session, where)} if quantize == "int8" else {}
    try:
        artifact = impl.save(session.inference.model, folder, fmt=fmt, quantize=quantize, **extra)
    except ExportError as exc:
        if exc.where is None:  # the format's own refusal: placed at this run and format
            raise ExportError(f"the {name} export of {session.run.recipe.name} failed: {exc.what}", where=where,
                              fix=exc.fix) from None
        raise
    except Exception as exc:
        problem = converter_problem(exc, all_layers(session.inference.model))
        raise ExportError(f"the {name} export failed: {problem}", where=where, fix=_fix(fmt, problem)) from exc
    try:
        predict = impl.load(folder, session.rebuild, fmt=fmt)
        figures = check(predict, session.x, session.reference, session.y, quantized=bool(quantize),
                        task=session.task, runtime=spec.runtime)
    except Exception as exc:
        raise ExportError(f"the {name} export was written but {spec.runtime} could not run it: "
                          f"{type(exc).__name__}: {converter_problem(exc, all_layers(session.inference.model))}",
                          where=where, fix=_fix(fmt, str(exc))) from exc
    if not figures["passed"]:
        raise ExportError(f"the {name} export does not match the Keras model: {failure_text(figures)}", where=where,
                          fix="Export in float32 (no --quantize)" + (
                              ", or use --quantize dynamic or float16 (int8 also quantizes the activations, "
                              "calibrated on a few hundred training examples, and can lose more accuracy)"
                              if quantize == "int8" else "") + ", or report the layers of the model as a bug.")
    card = make_card(session.run, session.inference, fmt=fmt, quantize=quantize, artifact=artifact.name,
                     runtime=spec.runtime, folder=folder, verification=figures,
                     versions={**_versions(impl)}, notes=_notes(fmt, quantize),
                     names=artifact_names(fmt, folder, session.inference.model),
                     quantization=_quantization(impl, artifact, session, extra) if quantize == "int8" else None)
    write_card(folder, card)
    return ExportResult(format=fmt, quantize=quantize, path=folder, artifact=artifact, card=card)


def _representative(session: Session, where: str):
    """An int8 export's calibration examples: raw training examples of the run (see
    :func:`.heldout.representative_examples`)."""
    from .heldout import representative_examples

    raw = session.inference.raw
    if raw.kind == "text" or raw.dtype == "string":
        raise ExportError("an int8 export cannot take raw text: LiteRT has no string ops, and integer "
                          f"quantization needs numeric inputs (the model {session.run.recipe.name} takes strings)",
                          where=where, fix=_fix("tflite", "String"))
    return representative_examples(session.run)


def _quantization(impl, artifact: Path, session: Session, extra: dict) -> dict:
    """The card's ``quantization`` of an int8 export: its tensors' types and parameters, and its calibration."""
    recipe = session.run.recipe
    return {"mode": "int8", **impl.quantization(artifact), "representative": {
        "examples": int(len(extra["representative"])), "split": "train",
        "source": f"{recipe.data.dataset} training examples (validation part excluded) of the run, drawn without "
                  f"replacement with seed {recipe.seed}, as raw inputs"}}


def _move_into_place(source: Path, target: Path) -> Path:
    """Copy ``source`` next to ``target`` and swap it in (an older export of the same name is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".incoming-{target.name}-{os.getpid()}")
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.copytree(source, incoming)
    if target.exists():
        os.replace(target, old)
    os.replace(incoming, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _fix(fmt: str, problem: str) -> str:
    if "TextVectorization" in problem or "StringLookup" in problem or "String" in problem:
        return (f"{fmt} has no string ops, so a model that takes raw text cannot be exported to it; export "
                "keras or savedmodel (they take raw strings), or train on word ids (data.dataset: imdb) "
                "and export that model.")
    return (f"Replace the named layer with one the {fmt} converter supports, or export keras/savedmodel, "
            "which keep every Keras layer.")


def _notes(fmt: str, quantize: str | None) -> list[str]:
    notes = [NOTES[fmt]] if fmt in NOTES else []
    if quantize == "dynamic":
        notes.append("Dynamic-range quantization: int8 weights, float32 inputs and outputs.")
    elif quantize == "float16":
        notes.append("float16 weights (dequantized to float32 on CPU); float32 inputs and outputs.")
    elif quantize == "int8":
        notes.append("Full-integer quantization: int8 weights and activations, calibrated on training examples "
                     "(see quantization.representative). A float input becomes uint8 and the output uint8: "
                     "quantize values as round(x / scale) + zero_point and dequantize the output as "
                     "(q - zero_point) * scale (quantization.input/output); raw pixels 0..255 go in as they are "
                     "when the input's scale is 1 and zero point 0. kerasforge's loader and `kforge serve` do both.")
    return notes


def _versions(impl) -> dict[str, str]:
    import keras

    from .. import __version__

    return {"kerasforge": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
            **impl.versions()}
