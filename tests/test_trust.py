"""Safe by default: files beside a recipe never replace installed modules, and a run folder never runs the
code its recipe names (predict, export, serve, report) without --trust-code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasforge.cli import main
from kerasforge.trust import code_trusted, recipe_references, trust_option, trusting

SRC = Path(__file__).resolve().parents[1] / "src"
KFORGE = Path(sys.executable).with_name("kforge")

DIGITS = {
    "data": {"dataset": "digits", "subset": 200},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 1, "batch_size": 32},
}


def kforge(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real console script in a fresh interpreter, started away from the recipe, with no PYTHONPATH but
    this source tree."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "KFORGE_NO_TRACK": "1"}
    return subprocess.run([str(KFORGE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_recipe_references_lists_code_in_model_train_and_search_only():
    data = {"name": "a:b", "description": "see: notes", "model": {"ref": "os:system", "kwargs": {"x": "m:f"}},
            "train": {"callbacks": [{"type": "cbs:Log"}], "loss": "mse"}}
    assert recipe_references(data) == ["os:system", "m:f", "cbs:Log"]


def test_trusting_is_scoped_and_trust_option_passes_it():
    assert not code_trusted()
    with trusting(True):
        assert code_trusted()
        with trusting(None):
            assert code_trusted()
    assert not code_trusted()

    @trust_option
    def opened() -> bool:
        return code_trusted()

    assert opened(trust_code=True) and not opened()


def test_modules_beside_a_recipe_never_replace_installed_ones(tmp_path):
    """A json.py / concurrent.py beside a recipe changes nothing: `kforge check` and `train` use the real ones."""
    folder = tmp_path / "project"
    folder.mkdir()
    marker = tmp_path / "imported.txt"
    for name in ("json", "concurrent", "typing_extensions", "numpy"):
        (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name}\\n')\n"
                                           "raise SystemExit('the wrong module was imported')\n")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(DIGITS))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = kforge(["check", str(folder / "recipe.yaml")], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), marker.read_text()
    done = kforge(["train", str(folder / "recipe.yaml"), "-q", "--output", str(tmp_path / "runs")], cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists(), marker.read_text()


def _hostile_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run folder whose recipe names os:system and whose model.keras is broken, with weights present."""
    marker = tmp_path / "pwned"
    run = tmp_path / "runs" / "evil-20260101-000000"
    run.mkdir(parents=True)
    recipe = {"name": "evil", "data": {"dataset": "digits"},
              "model": {"ref": "os:system", "kwargs": {"command": f"touch {marker}"}}}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (run / "run.json").write_text(json.dumps({"name": "evil", "status": "finished"}))
    (run / "data.json").write_text(json.dumps({"kind": "image", "input_shape": [8, 8, 1], "num_classes": 10,
                                               "class_names": [str(i) for i in range(10)], "task": "multiclass"}))
    (run / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    (run / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n broken")
    np.save(tmp_path / "x.npy", np.zeros((8, 8, 1), dtype="float32"))
    return run, marker


@pytest.mark.parametrize("argv", [
    ["predict", "{run}", "{x}"],
    ["export", "{run}", "--format", "onnx"],
    ["serve", "{run}", "--port", "0"],
    ["report", "{run}"],
])
def test_a_run_folder_naming_os_system_is_refused_without_running_it(capsys, tmp_path, argv):
    run, marker = _hostile_run(tmp_path)
    args = [a.format(run=run, x=tmp_path / "x.npy") for a in argv]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    message = err.splitlines()[-1]  # (report says which run it opens first)
    assert message.startswith("kforge: ") and "Traceback" not in err
    assert "'os:system'" in message and "--trust-code" in message and "nothing was run" in message
    assert not marker.exists()


def test_python_api_refuses_too(tmp_path):
    from kerasforge import load_run
    from kerasforge.errors import KerasforgeError

    run, marker = _hostile_run(tmp_path)
    with pytest.raises(KerasforgeError, match="trust_code=True"):
        load_run(run)
    assert not marker.exists()


CUSTOM = '''
import keras


@keras.saving.register_keras_serializable(package="{name}")
class MyModel(keras.Model):
    """A subclassed model: its model.keras loads only where this module has been imported."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.flat = keras.layers.Flatten()
        self.head = keras.layers.Dense(num_classes, activation="softmax")

    def call(self, x):
        return self.head(self.flat(x))

    def get_config(self):
        return {{**super().get_config(), "num_classes": self.num_classes}}
'''


@pytest.mark.slow
def test_a_custom_model_run_predicts_and_exports_with_trust_code(tmp_path):
    """Trained from a recipe beside its module, from another folder and without PYTHONPATH=. ; predict and
    export refuse it by default and work with --trust-code."""
    folder = tmp_path / "project"
    folder.mkdir()
    module = f"my_models_{uuid.uuid4().hex[:6]}"
    (folder / f"{module}.py").write_text(CUSTOM.format(name=module))
    recipe = {**DIGITS, "model": f"{module}:MyModel"}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "runs"
    done = kforge(["train", str(folder / "recipe.yaml"), "-q", "--output", str(runs)], cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-2000:]
    run = next(runs.glob("recipe-*"))
    assert json.loads((run / "run.json").read_text())["code_dir"] == str(folder.resolve())
    np.save(tmp_path / "x.npy", np.full((8, 8, 1), 7.0, dtype="float32"))

    refused = kforge(["predict", str(run), str(tmp_path / "x.npy")], cwd=elsewhere)
    assert refused.returncode == 2 and "--trust-code" in refused.stderr, refused.stderr[-2000:]
    done = kforge(["predict", str(run), str(tmp_path / "x.npy"), "--trust-code"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"{tmp_path / 'x.npy'}: ")
    done = kforge(["export", str(run), "--format", "keras", "--trust-code", "-q"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "exports" / "keras" / "model_card.json").is_file()
