"""``kforge report RUN`` and the background finisher rebuild the report of a run trained on data given in
Python (``kerasforge.train(recipe, data=(x, y))``), whose recipe names no data to load again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli import main


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright vs dark 8x8 images: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.clip(rng.normal(40 + 170 * y[:, None, None, None], 40, (n, 8, 8, 1)), 0, 255).astype(np.uint8)
    return x, y


@pytest.fixture(scope="module")
def python_run(tmp_path_factory) -> Path:
    import kerasforge

    x, y = _images(200)
    out = tmp_path_factory.mktemp("runs")
    recipe = {"name": "own_arrays", "seed": 3,
              "model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]},
              "train": {"epochs": 2, "batch_size": 16, "validation_split": 0.0,
                        "optimizer": {"type": "adam", "learning_rate": 0.05}},
              "output": {"dir": str(out), "formats": ["keras"]}}
    run = kerasforge.train(recipe, data=(x, y), show_summary=False, track=False)  # report made in-process
    assert (run.path / "report.html").is_file()
    return run.path


def _evaluation(run_dir: Path) -> dict:
    return json.loads((run_dir / "evaluation.json").read_text())


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    for name in ("report.html", "evaluation.json"):
        (copy / name).unlink()
    shutil.rmtree(copy / "plots")
    return copy


def test_kforge_report_rebuilds_a_python_data_run(python_run: Path, tmp_path: Path, capsys) -> None:
    before = _evaluation(python_run)
    run_dir = _copy(python_run, tmp_path)
    assert main(["report", str(run_dir)]) == 0
    assert f"report: {run_dir / 'report.html'}" in capsys.readouterr().out
    after = _evaluation(run_dir)
    assert after["accuracy"] == before["accuracy"] and after["split_examples"] == before["split_examples"] == 40
    assert after["top_losses"] == before["top_losses"] and after["confusion_matrix"] == before["confusion_matrix"]
    page = (run_dir / "report.html").read_text()
    assert f"{after['accuracy']:.4f}"[:5] in page and "Left out" not in page
    assert (run_dir / "plots" / "top_losses.png").is_file()
    # a run from an earlier kerasforge kept only the export sample: one paragraph and exit 2, not a traceback
    with np.load(run_dir / "heldout.npz") as saved:
        np.savez_compressed(run_dir / "heldout.npz", **{k: saved[k] for k in saved.files if not k.startswith("report_")})
    assert main(["report", str(run_dir)]) == 2
    assert "kept only a sample for exports" in capsys.readouterr().err


def test_a_run_killed_before_its_report_is_finished(python_run: Path, tmp_path: Path) -> None:
    from kerasforge.finishing import finish_parts
    from kerasforge.lifecycle import set_parts

    run_dir = _copy(python_run, tmp_path)
    set_parts(run_dir, report="pending")  # as a process killed while making the report leaves it
    assert finish_parts(run_dir, track=False) == {"report": "done"}
    assert _evaluation(run_dir)["accuracy"] == _evaluation(python_run)["accuracy"]


def test_a_split_too_large_to_keep_is_rebuilt_from_predictions(python_run: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    """Above the size bound only the predictions are kept: the evaluation is the same, the grids are left
    out and the report says so."""
    import kerasforge
    from kerasforge.report import saved_data

    monkeypatch.setattr(saved_data, "REPORT_BYTES", 1000)  # the 40 test images take 2,560 bytes
    x, y = _images(200)
    recipe = json.loads(json.dumps({"name": "own_large", "seed": 3,
                                    "model": {"layers": [{"type": "Flatten"},
                                                         {"type": "Dense", "units": 2, "activation": "softmax"}]},
                                    "train": {"epochs": 1, "batch_size": 16, "validation_split": 0.0},
                                    "output": {"dir": str(tmp_path / "runs"), "formats": ["keras"]}}))
    run = kerasforge.train(recipe, data=(x, y), show_summary=False, track=False)
    before = _evaluation(run.path)
    with np.load(run.path / "heldout.npz") as saved:
        assert "report_x" not in saved.files and saved["report_predictions"].shape == (40, 2)
    run_dir = _copy(run.path, tmp_path / "copy")
    assert main(["report", str(run_dir)]) == 0
    after = _evaluation(run_dir)
    assert after["accuracy"] == before["accuracy"] and after["top_losses"] == before["top_losses"]
    assert "image grids" in after["left_out"] and not (run_dir / "plots" / "top_losses.png").exists()
    assert "Left out: the image grids" in (run_dir / "report.html").read_text()
