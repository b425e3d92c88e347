"""Models served by name and version, opened from run folders, exports or TF Serving base paths.

A name is a plain word (``[A-Za-z0-9][A-Za-z0-9_.-]*``) looked up in a dictionary filled at start-up:
a request's name never becomes a path, so no name reaches outside the model folders. Each name holds
one or more *versions* (TF Serving's ``<base>/<version>/`` layout; a single run or export is version 1)
and optional *labels* (``stable`` -> 3). The runtime follows the artifact (:func:`open_model`): ONNX
Runtime for ``model.onnx``, TensorFlow for a SavedModel, LiteRT for ``model.tflite``, Keras for
``model.keras``/``model.h5`` and for run folders without an ONNX export.

Example:
    >>> registry = ModelRegistry.from_paths(["runs/fashion_mnist_cnn-20261123-101500",
    ...                                      "digits=models/digits"])        # doctest: +SKIP
    >>> registry.get("digits", version="2").engine.name                      # doctest: +SKIP
    'tensorflow'
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import KerasforgeError
from ..runs import read_json
from .engines import Engine, KerasEngine, OnnxEngine, SavedModelEngine, TFLiteEngine, spec_from_info
from .errors import ServeError
from .policy import VersionPolicy

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
ALIASES = {"image": "pixels", "sequence": "word_ids", "text": "text", "tabular": "features"}
RANGES = {"image": [0, 255]}


@dataclass(eq=False)
class ServedModel:
    """One loaded version of a model: its name, version, engine and classes."""

    name: str
    path: Path
    engine: Engine
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    loaded_at: float = field(default_factory=time.time)
    inflight: int = 0  # requests on their way through the engine (a retired version waits for them)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names a request may give the input: the artifact's own, and kforge's word for its kind."""
        names = [self.engine.inputs[0].name] if self.engine.inputs else []
        return tuple(dict.fromkeys([*names, ALIASES.get(self.engine.spec.kind, "features")]))

    def metadata(self) -> dict[str, Any]:
        """kforge's own description (``GET /v1/models``; ``kforge`` in ``/metadata``): no server paths."""
        spec = self.engine.spec
        return {
            "name": self.name, "version": str(self.version), "engine": self.engine.name,
            "task": self.info.get("task"), "kind": spec.kind, "class_names": self.class_names,
            "input": {**spec.describe(), "name": self.input_names[0], "range": RANGES.get(spec.kind)},
            "output": {**(self.engine.outputs[0].describe() if self.engine.outputs else {}),
                       "meaning": _meaning(self.info.get("task"), len(self.class_names))},
            "versions": {"kerasforge": __version__, **self.engine.versions()},
        }


def _meaning(task: str | None, classes: int) -> str:
    if task == "regression":
        return "the predicted value"
    if task == "binary" or classes == 2:
        return "probability of class 1 (one unit) or of each class"
    return "class probabilities in class_names' order"


@dataclass(eq=False)
class ModelEntry:
    """Every version of one model name, its labels, and each version's state (as TF Serving reports it)."""

    name: str
    versions: dict[int, ServedModel] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    states: dict[int, tuple[str, str]] = field(default_factory=dict)  # version -> (state, error message)
    base: Path | None = None  # a TF Serving base path, watched for new versions
    policy: VersionPolicy = field(default_factory=VersionPolicy)

    def latest(self) -> ServedModel | None:
        return self.versions[max(self.versions)] if self.versions else None

    def status(self, version: int | None = None) -> list[dict[str, Any]]:
        """``model_version_status`` entries, newest first."""
        chosen = sorted(self.states, reverse=True) if version is None else [version]
        return [{"version": str(v), "state": self.states[v][0],
                 "status": {"error_code": "OK" if not self.states[v][1] else "UNKNOWN",
                            "error_message": self.states[v][1]}} for v in chosen if v in self.states]


class ModelRegistry:
    """Served models by name (each with its versions and labels)."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    @classmethod
    def from_paths(cls, specs: list[str], *, policy: VersionPolicy | None = None,
                   labels: list[str] | None = None) -> ModelRegistry:
        """A registry of ``PATH`` or ``NAME=PATH`` entries (runs, exports, .onnx files, versioned base paths).

        ``labels`` are ``[MODEL:]LABEL=VERSION`` (``stable=2``; the model may be left out when one is served).
        """
        registry = cls()
        for spec in specs:
            name, _, path = ("", "", spec) if Path(spec).exists() else spec.partition("=")
            if not path:
                name, path = "", spec
            if is_base_path(Path(path)):
                registry.add_entry(open_base(Path(path), name=name or None, policy=policy or VersionPolicy()))
            else:
                registry.add(open_model(Path(path), name=name or None))
        for label in labels or []:
            registry.set_label(label)
        return registry

    @classmethod
    def from_config(cls, path: Path, *, extra: list[str] | None = None) -> ModelRegistry:
        """The models of a model config file (:mod:`.config`), plus ``extra`` paths as :meth:`from_paths`."""
        from .config import read_model_config

        registry = cls.from_paths(extra or [])
        for config in read_model_config(path):
            if is_base_path(config.base_path):
                entry = open_base(config.base_path, name=config.name, policy=config.policy)
            else:
                model = open_model(config.base_path, name=config.name)
                entry = ModelEntry(name=model.name, versions={model.version: model},
                                   states={model.version: ("AVAILABLE", "")})
            registry.add_entry(entry, where=config.base_path)
            for label, version in config.labels.items():
                registry.set_label(f"{config.name}:{label}={version}")
        return registry

    def add(self, model: ServedModel) -> None:
        """Register ``model`` under its name (two models cannot share one)."""
        self.add_entry(ModelEntry(name=model.name, versions={model.version: model},
                                  states={model.version: ("AVAILABLE", "")}), where=model.path)

    def add_entry(self, entry: ModelEntry, *, where: Path | None = None) -> None:
        """Register every version of ``entry`` under its name."""
        if entry.name in self._entries:
            raise KerasforgeError(f"two models are named {entry.name!r}", where=str(where or entry.base or ""),
                                  fix="Name them yourself: kforge serve first=PATH1 second=PATH2.")
        self._entries[entry.name] = entry

    def set_label(self, text: str) -> None:
        """Apply ``[MODEL:]LABEL=VERSION`` (TF Serving's ``version_labels``)."""
        target, _, version = text.partition("=")
        model, _, label = target.rpartition(":")
        if not model and len(self._entries) == 1:
            model = next(iter(self._entries))
        entry = self._entries.get(model)
        if entry is None or not LABEL.match(label) or not version.isdigit() or int(version) not in entry.versions:
            known = {n: sorted(e.versions) for n, e in self._entries.items()}
            raise KerasforgeError(f"cannot apply the version label {text!r}", where="--label",
                                  fix=f"Write [MODEL:]LABEL=VERSION with a loaded version (loaded: {known}), "
                                      "e.g. --label stable=1.")
        entry.labels[label] = int(version)

    def entry(self, name: str) -> ModelEntry:
        """The entry called ``name``; 404 (TF Serving's message) otherwise."""
        entry = self._entries.get(name) if NAME.match(name or "") else None
        if entry is None:
            raise self._not_found(name, None)
        return entry

    def get(self, name: str, version: str | int | None = None, label: str | None = None) -> ServedModel:
        """The model called ``name`` (its latest version, a given version, or the one a label points to)."""
        entry = self._entries.get(name) if NAME.match(name or "") else None
        if entry is None:
            raise self._not_found(name, version)
        if label is not None:
            if label not in entry.labels:
                raise ServeError(404, "label_not_found", f"Unrecognized servable version label: {label[:64]}",
                                 fix=f"Labels of {name}: {', '.join(sorted(entry.labels)) or 'none'}.")
            version = entry.labels[label]
        model = entry.latest() if version is None else entry.versions.get(int(version))
        if model is None:
            raise self._not_found(name, version)
        return model

    def _not_found(self, name: str, version: str | int | None) -> ServeError:
        request = f"Latest({name[:100]})" if version is None else f"Specific({name[:100]}, {version})"
        known = ", ".join(f"{n} (versions {', '.join(map(str, sorted(e.versions))) or 'none'})"
                          for n, e in sorted(self._entries.items())) or "none"
        return ServeError(404, "model_not_found", f"Servable not found for request: {request}",
                          fix=f"Served: {known}.")

    def names(self) -> list[str]:
        """The names of all served models, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        return [self._entries[n] for n in self.names()]

    def all_models(self) -> list[ServedModel]:
        """Every loaded version of every model."""
        return [m for e in self.entries() for _, m in sorted(e.versions.items())]

    def __iter__(self):
        """The latest version of each model."""
        return iter([m for m in (e.latest() for e in self.entries()) if m is not None])

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------------------------------------------
# opening models
# ---------------------------------------------------------------------------------------------------
def is_base_path(path: Path) -> bool:
    """A TF Serving base path: a folder of numbered version folders (``<base>/1/``, ``<base>/2/`` ...)."""
    return path.is_dir() and not (path / "run.json").is_file() and any(
        p.is_dir() and p.name.isdigit() for p in path.iterdir())


def version_folders(base: Path) -> dict[int, Path]:
    """``{version: folder}`` of a base path (hidden or non-numeric folders are ignored, as TF Serving does)."""
    return {int(p.name): p for p in base.iterdir() if p.is_dir() and p.name.isdigit()}


def open_base(base: Path, *, name: str | None, policy: VersionPolicy) -> ModelEntry:
    """Every version of ``base`` that ``policy`` keeps, loaded (one that fails is reported, not served)."""
    folders = version_folders(base)
    entry = ModelEntry(name="", base=base, policy=policy)
    for version in policy.keep(folders):
        try:
            model = open_model(folders[version], name=name, version=version)
        except KerasforgeError as exc:
            entry.states[version] = ("END", exc.what)
            continue
        entry.versions[version] = model
        entry.states[version] = ("AVAILABLE", "")
    if not entry.versions:
        problems = "; ".join(f"{v}: {s[1]}" for v, s in entry.states.items()) or "no version folder"
        raise KerasforgeError(f"no version of {base} could be loaded ({problems})", where=str(base),
                              fix="Each <base>/<version>/ must hold an export made by `kforge export`.")
    entry.name = name or entry.latest().name
    for model in entry.versions.values():
        model.name = entry.name
    return entry


def open_model(path: Path, *, name: str | None = None, version: int = 1) -> ServedModel:
    """A run folder, an export folder (any format but weights) or a ``.onnx``/``.tflite``/``.keras``/``.h5`` file."""
    if path.is_file() and path.suffix in (".onnx", ".tflite", ".keras", ".h5"):
        return _open_export(path.parent, name, artifact=path, version=version)
    if not path.is_dir():
        raise KerasforgeError(f"{path} is neither a run folder nor an export", where=str(path),
                              fix="Give a folder made by `kforge train` (runs/...), an export folder "
                                  "(runs/.../exports/onnx), a TF Serving base path or a .onnx file.")
    if (path / "run.json").is_file():
        return _open_run(path, name, version)
    artifact = find_artifact(path)
    if artifact is None:
        raise KerasforgeError(f"{path} holds no run.json and no model (model.onnx, saved_model.pb, model.tflite, "
                              "model.keras or model.h5)", where=str(path),
                              fix="Give a run folder made by `kforge train` or an export folder.")
    return _open_export(path, name, artifact=artifact, version=version)


def find_artifact(folder: Path) -> Path | None:
    """The servable artifact in an export folder (its card's ``artifact`` first)."""
    card = read_json(folder / "model_card.json", {}) or {}
    if card.get("format") == "weights":
        raise KerasforgeError(f"{folder} is a weights-only export: it has no architecture to serve",
                              where=str(folder), fix="Serve the run folder, or export keras/onnx/savedmodel.")
    candidates = [card.get("artifact") or "", "model.onnx", "saved_model", "saved_model.pb", "model.tflite",
                  "model.keras", "model.h5"]
    for candidate in candidates:
        if candidate and candidate not in (".", "..") and (folder / candidate).exists():
            return folder / candidate
    return None


def _engine_for(artifact: Path, spec) -> Engine:
    if artifact.suffix == ".onnx":
        return OnnxEngine(artifact, spec)
    if artifact.name == "saved_model.pb":
        return SavedModelEngine(artifact.parent, spec)
    if artifact.is_dir():
        return SavedModelEngine(artifact, spec)
    if artifact.suffix == ".tflite":
        return TFLiteEngine(artifact, spec)
    from ..backend import configure_backend

    configure_backend("auto")
    import keras

    model = keras.saving.load_model(artifact, compile=False, safe_mode=True)
    return KerasEngine(model, spec, raw_inputs=True)


def _checked_name(name: str, path: Path) -> str:
    if not NAME.match(name):
        raise KerasforgeError(f"{name!r} cannot be a model name", where=str(path),
                              fix="Use letters, digits, '_', '-' and '.', starting with a letter or digit: "
                                  "kforge serve NAME=PATH.")
    return name


def _open_run(path: Path, name: str | None, version: int) -> ServedModel:
    from ..runs import load_run

    info = read_json(path / "data.json", {}) or {}
    run_name = (read_json(path / "run.json", {}) or {}).get("name") or path.name
    onnx = path / "exports" / "onnx" / "model.onnx"
    if onnx.is_file():
        return _open_export(onnx.parent, name or run_name, artifact=onnx, version=version)
    run = load_run(path)  # Keras' safe_mode
    from ..evaluate.outputs import logit_outputs
    from ..export.inference_model import raw_example_model
    from ..predict import emits_logits

    views = raw_example_model(run)  # inputs cut from one raw example: served through the raw example
    if views is not None:
        return ServedModel(name=_checked_name(name or run.recipe.name, path), path=path,
                           engine=KerasEngine(views[0], spec_from_info(views[1]), raw_inputs=True),
                           class_names=_class_names(views[1]), info=views[1], version=version)

    engine = KerasEngine(run.model, spec_from_info(run.data_info or info),
                         logits=emits_logits(run.recipe, run.data_info or info),
                         logit_outputs=tuple(logit_outputs(run.recipe, run.data_info or info)))
    return ServedModel(name=_checked_name(name or run.recipe.name, path), path=path, engine=engine,
                       class_names=_class_names(run.data_info or info), info=run.data_info or info, version=version)


def _open_export(folder: Path, name: str | None, *, artifact: Path, version: int) -> ServedModel:
    """An export: RAW inputs with preprocessing inside; facts from its model card, else from its run."""
    card = read_json(folder / "model_card.json", {}) or {}
    run_dir = folder.parents[1] if folder.parent.name == "exports" else None
    run_info = (read_json(run_dir / "data.json", {}) or {}) if run_dir else {}
    info = {**run_info, **_card_facts(card)}
    spec = spec_from_info(info)
    try:
        engine = _engine_for(artifact, spec)
    except KerasforgeError:
        raise
    except Exception as exc:
        raise KerasforgeError(f"the model in {folder} could not be opened: {type(exc).__name__}: {exc}",
                              where=str(artifact), fix="Export the run again with `kforge export`.") from exc
    run_name = (read_json(run_dir / "run.json", {}) or {}).get("name") if run_dir else None
    default = card.get("name") or run_name or (folder.parent.name if folder.name.isdigit() else folder.name)
    return ServedModel(name=_checked_name(name or str(default), folder), path=folder, engine=engine,
                       class_names=_class_names(info), info=info, version=version)


def _card_facts(card: dict[str, Any]) -> dict[str, Any]:
    """The model card's fields that match ``data.json``'s (its layout may name them a little differently)."""
    facts: dict[str, Any] = {}
    for key in ("class_names", "num_classes", "kind", "task", "preprocessing", "input_shape"):
        if card.get(key) is not None:
            facts[key] = card[key]
    spec = card.get("input") or card.get("input_spec")
    if isinstance(spec, dict):
        shape = spec.get("shape")
        if isinstance(shape, list) and shape and shape[0] in (None, -1, "batch", "N"):
            shape = shape[1:]
        if "input_shape" not in facts and isinstance(shape, list):
            facts["input_shape"] = shape
        if "kind" not in facts and spec.get("kind"):
            facts["kind"] = spec["kind"]
    return facts


def _class_names(info: dict[str, Any]) -> list[str]:
    outputs = info.get("outputs") or {}  # a multi-output model: :classify describes its first output
    names = (next(iter(outputs.values())).get("class_names") if outputs else None) or info.get("class_names")
    if names:
        return [str(n) for n in names]
    return [str(i) for i in range(int(info.get("num_classes") or 0))]
