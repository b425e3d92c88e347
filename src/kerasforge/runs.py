"""Run folders: one folder per run that you can zip and send, and the :class:`Run` handle.

A run folder ``runs/<recipe>-<timestamp>/`` holds ``recipe.yaml`` (resolved), ``run.json`` (status,
fingerprint, timings), ``data.json``, ``env.json``, ``history.json``, ``metrics.json``,
``model.keras`` and, while training, ``checkpoints/`` with the last resume point.

Example:
    >>> run = load_run("runs/fashion_mnist_cnn-20261123-101500")   # doctest: +SKIP
    >>> run.metrics["test_accuracy"]                                # doctest: +SKIP
    0.9134
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import KerasforgeError
from .recipe import Recipe, load_recipe

RESUMABLE = ("running", "interrupted", "failed")  # killed, Ctrl-C'd, or stopped by an error


@dataclass
class Run:
    """A trained run: its folder, recipe, model, history and metrics."""

    path: Path
    recipe: Recipe
    model: Any = None
    history: dict[str, list] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        return list(self.data_info.get("class_names", []))

    def __repr__(self) -> str:
        shown = {k: round(v, 4) for k, v in self.metrics.items() if isinstance(v, float)}
        return f"Run({str(self.path)!r}, metrics={shown})"


def fingerprint(recipe: Recipe) -> str:
    """A short hash of everything that decides what a run computes (output settings excluded)."""
    data = recipe.to_dict()
    data.pop("output", None)
    data.get("train", {}).pop("rehearsal", None)  # a check before training, not part of what is computed
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def new_run_dir(output_dir: Path, name: str) -> Path:
    """Create ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>`` (with a suffix when that exists already)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = output_dir / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise KerasforgeError(f"could not create a run folder in {output_dir}", where=str(output_dir),
                          fix="Clean up old runs or choose another output folder with --output.")


def read_json(path: Path, default: Any = None) -> Any:
    """JSON from ``path``, or ``default`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def update_run_info(path: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the run's ``run.json`` (written atomically)."""
    from .training.callbacks import write_json_atomic

    info = read_json(path / "run.json", {}) or {}
    info.update(fields)
    write_json_atomic(path / "run.json", info)
    return info


def find_resumable(output_dir: Path, recipe: Recipe, busy: list[Path] | None = None) -> Path | None:
    """The newest unfinished run of this same recipe whose process is gone, if any (runs in ``busy`` are
    passed over; runs whose owner lives are added to it)."""
    from .lifecycle import owner_alive

    if not output_dir.is_dir():
        return None
    wanted = fingerprint(recipe)
    candidates = []
    for run_json in output_dir.glob(f"{recipe.name}-*/run.json"):
        info = read_json(run_json, {}) or {}
        if info.get("status") not in RESUMABLE or info.get("fingerprint") != wanted:
            continue
        if busy is not None and run_json.parent in busy:
            continue
        if owner_alive(run_json.parent, info):  # another process is still training it
            if busy is not None:
                busy.append(run_json.parent)
            continue
        candidates.append((run_json.stat().st_mtime, run_json.parent))
    return max(candidates)[1] if candidates else None


def load_run(path: str | Path, *, with_model: bool = True, trust_code: bool | None = None) -> Run:
    """Open a finished run folder: recipe, history, metrics and (by default) the model.

    Models are loaded with Keras' ``safe_mode``; a subclassed model that Keras cannot rebuild from
    ``model.keras`` is rebuilt from the recipe and given the saved weights. Code the recipe names
    (``module:Name``) is imported only with ``trust_code=True`` (``None``: the CLI's ``--trust-code``,
    see :mod:`kerasforge.trust`); the modules are then found beside the recipe the run was trained from.
    """
    from .trust import trusting

    with trusting(trust_code):
        return _load_run(Path(path), with_model)


def _load_run(path: Path, with_model: bool) -> Run:
    path = Path(path)
    if not (path / "run.json").is_file():
        raise KerasforgeError(f"{path} is not a kerasforge run folder (it has no run.json)", where=str(path),
                              fix="Give a folder under runs/ made by `kforge train`.")
    recipe = load_recipe(path / "recipe.yaml")
    run = Run(path=path, recipe=recipe, history=read_json(path / "history.json", {}) or {},
              metrics=read_json(path / "metrics.json", {}) or {}, info=read_json(path / "run.json", {}) or {},
              data_info=read_json(path / "data.json", {}) or {})
    if with_model:
        run.model = load_run_model(run)
    return run


def load_run_model(run: Run):
    """The trained model of ``run`` (see :func:`load_run`)."""
    from .backend import configure_backend

    configure_backend(run.recipe.backend)
    from .saving import load_model_file
    from .trust import import_run_code, refuse_untrusted

    model_file = run.path / "model.keras"
    if not model_file.is_file():
        raise KerasforgeError(f"{run.path} has no model.keras (status: {run.info.get('status', 'unknown')})",
                              where=str(run.path), fix="Finish the run first: run the same `kforge train` again.")
    import_run_code(run)  # with --trust-code only: custom classes registered before model.keras is read
    try:
        return load_model_file(model_file)
    except KerasforgeError as exc:
        weights = run.path / "model.weights.h5"
        if run.recipe.model.kind != "python" or not weights.is_file():
            raise
        refuse_untrusted(run.recipe, where=str(run.path / "recipe.yaml"),
                         doing=f"model.keras did not load ({exc.what[:200]}); rebuilding the model from recipe.yaml")
    from .data.dataset import input_dtype
    from .models import build_model

    shape = run.data_info.get("model_input_shape") or run.data_info.get("input_shape")
    model = build_model(run.recipe.model, tuple(shape), int(run.data_info.get("num_classes", 1)),
                        name=run.recipe.name,
                        input_dtype=input_dtype(run.data_info.get("kind")))
    from .data.scaling import rescale_rebuilt

    model = rescale_rebuilt(model, run.data_info)  # the scaling layer it was trained with, if any
    model.load_weights(weights)
    return model
