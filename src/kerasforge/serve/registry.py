"""Models served by name, opened from run folders or exports.

A name is a plain word (``[A-Za-z0-9][A-Za-z0-9_.-]*``) looked up in a dictionary filled at start-up:
a request's name never becomes a path, so no name reaches outside the model folders. A run folder is
served with ONNX Runtime when it holds ``exports/onnx/model.onnx`` and with Keras (``safe_mode``)
otherwise.

Example:
    >>> registry = ModelRegistry.from_paths(["runs/fashion_mnist_cnn-20261123-101500",
    ...                                      "digits=runs/digits_mlp-20261123-101700"])   # doctest: +SKIP
    >>> registry.get("digits").engine.name                                                # doctest: +SKIP
    'keras'
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
from .engines import Engine, KerasEngine, OnnxEngine, spec_from_info
from .errors import ServeError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class ServedModel:
    """A model ready to serve: its name, where it came from, its engine and its classes."""

    name: str
    path: Path
    engine: Engine
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)

    def metadata(self) -> dict[str, Any]:
        """What ``GET /v1/models/{name}`` answers (with TF-Serving's ``model_version_status``)."""
        return {
            "name": self.name, "engine": self.engine.name, "task": self.info.get("task"),
            "kind": self.engine.spec.kind, "class_names": self.class_names,
            "input": self.engine.spec.describe(), "output": {"shape": [None, len(self.class_names)],
                                                             "dtype": "float32", "meaning": "class probabilities"},
            "source": str(self.path),
            "versions": {"model": "1", "kerasforge": __version__, **self.engine.versions()},
            "model_version_status": [{"version": "1", "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}],
        }


class ModelRegistry:
    """Served models by name."""

    def __init__(self) -> None:
        self._models: dict[str, ServedModel] = {}

    @classmethod
    def from_paths(cls, specs: list[str]) -> ModelRegistry:
        """A registry of ``PATH`` or ``NAME=PATH`` entries (run folders, export folders, .onnx files)."""
        registry = cls()
        for spec in specs:
            name, _, path = ("", "", spec) if Path(spec).exists() else spec.partition("=")
            if not path:
                name, path = "", spec
            registry.add(open_model(Path(path), name=name or None))
        return registry

    def add(self, model: ServedModel) -> None:
        """Register ``model`` under its name (two models cannot share one)."""
        if model.name in self._models:
            raise KerasforgeError(f"two models are named {model.name!r} ({self._models[model.name].path} and "
                                  f"{model.path})", where=str(model.path),
                                  fix="Name them yourself: kforge serve first=PATH1 second=PATH2.")
        self._models[model.name] = model

    def get(self, name: str) -> ServedModel:
        """The model called ``name``; 404 with the known names otherwise."""
        model = self._models.get(name) if NAME.match(name or "") else None
        if model is None:
            known = ", ".join(sorted(self._models)) or "none"
            raise ServeError(404, "model_not_found", f"no model named {name[:100]!r} is served",
                             where="path", fix=f"Use one of: {known} (GET /v1/models lists them).")
        return model

    def names(self) -> list[str]:
        """The names of all served models, sorted."""
        return sorted(self._models)

    def __iter__(self):
        return iter(self._models[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._models)


def open_model(path: Path, *, name: str | None = None) -> ServedModel:
    """A run folder, an export folder (``exports/onnx``, ``exports/keras``) or a ``.onnx`` file, ready to serve."""
    if path.is_file() and path.suffix == ".onnx":
        return _open_export(path.parent, name, onnx=path)
    if not path.is_dir():
        raise KerasforgeError(f"{path} is neither a run folder nor an export", where=str(path),
                              fix="Give a folder made by `kforge train` (runs/...), an export folder "
                                  "(runs/.../exports/onnx) or a .onnx file.")
    if (path / "run.json").is_file():
        return _open_run(path, name)
    if (path / "model.onnx").is_file():
        return _open_export(path, name, onnx=path / "model.onnx")
    if (path / "model.keras").is_file():
        return _open_export(path, name, onnx=None)
    raise KerasforgeError(f"{path} holds no run.json, model.onnx or model.keras", where=str(path),
                          fix="Give a run folder made by `kforge train` or an export folder.")


def _checked_name(name: str, path: Path) -> str:
    if not NAME.match(name):
        raise KerasforgeError(f"{name!r} cannot be a model name", where=str(path),
                              fix="Use letters, digits, '_', '-' and '.', starting with a letter or digit: "
                                  "kforge serve NAME=PATH.")
    return name


def _open_run(path: Path, name: str | None) -> ServedModel:
    from ..runs import load_run

    info = read_json(path / "data.json", {}) or {}
    run_name = (read_json(path / "run.json", {}) or {}).get("name") or path.name
    onnx = path / "exports" / "onnx" / "model.onnx"
    if onnx.is_file():
        return _open_export(onnx.parent, name or run_name, onnx=onnx)
    run = load_run(path)  # Keras' safe_mode
    from ..predict import emits_logits

    engine = KerasEngine(run.model, spec_from_info(run.data_info or info),
                         logits=emits_logits(run.recipe, run.data_info or info))
    return ServedModel(name=_checked_name(name or run.recipe.name, path), path=path, engine=engine,
                       class_names=_class_names(run.data_info or info), info=run.data_info or info)


def _open_export(folder: Path, name: str | None, *, onnx: Path | None) -> ServedModel:
    """An export: RAW inputs with preprocessing inside; facts from its model card, else from its run."""
    card = read_json(folder / "model_card.json", {}) or {}
    run_dir = folder.parents[1] if len(folder.parents) > 1 else folder
    info = {**(read_json(run_dir / "data.json", {}) or {}), **_card_facts(card)}
    spec = spec_from_info(info)
    try:
        if onnx is not None:
            engine: Engine = OnnxEngine(onnx, spec)
        else:
            from ..backend import configure_backend

            configure_backend("auto")
            from ..saving import load_model_file

            engine = KerasEngine(load_model_file(folder / "model.keras"), spec, raw_inputs=True)
    except KerasforgeError:
        raise
    except Exception as exc:
        raise KerasforgeError(f"the model in {folder} could not be opened: {exc}", where=str(onnx or folder),
                              fix="Export the run again with `kforge export`.") from exc
    default = card.get("name") or (read_json(run_dir / "run.json", {}) or {}).get("name") or folder.name
    return ServedModel(name=_checked_name(name or str(default), folder), path=folder, engine=engine,
                       class_names=_class_names(info), info=info)


def _card_facts(card: dict[str, Any]) -> dict[str, Any]:
    """The model card's fields that match ``data.json``'s (its layout may name them a little differently)."""
    facts: dict[str, Any] = {}
    for key in ("class_names", "kind", "task", "preprocessing", "input_shape"):
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
    names = info.get("class_names")
    if names:
        return [str(n) for n in names]
    return [str(i) for i in range(int(info.get("num_classes") or 0))]
