"""A table through the whole pipeline: in memory (the CSV reader) and streamed from the decoded cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def table(path: Path, n: int = 600) -> Path:
    """Two informative columns (one with missing cells), a colour and a noise column; label by a rule."""
    rng = np.random.default_rng(0)
    lines = ["size,weight,colour,noise,kind"]
    for i in range(n):
        size, weight = rng.normal(0, 1), rng.normal(0, 1)
        kind = "big" if size + weight > 0 else "small"
        lines.append(f"{size * 10 + 50:.3f},{'' if i % 37 == 0 else f'{weight * 3 + 200:.3f}'},"
                     f"{['red', 'blue'][i % 2]},{rng.random():.3f},{kind}")
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(path: Path, out: Path, stream, normalize: str = "standardize") -> dict:
    return {"name": "sizes", "seed": 4,
            "data": {"dataset": "parquet" if path.suffix == ".parquet" else "csv", "path": str(path),
                     "target": "kind", "stream": stream, "normalize": normalize},
            "model": {"layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                                 {"type": "Dense", "units": 2, "activation": "softmax"}]},
            "train": {"epochs": 6, "batch_size": 32, "validation_split": 0.2, "shuffle": False,
                      "optimizer": {"type": "adam", "learning_rate": 0.02}},
            "output": {"dir": str(out), "formats": ["keras"]}}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KFORGE_MEMORY_BUDGET", raising=False)
    monkeypatch.delenv("KFORGE_TABLE_CACHE_FROM", raising=False)
    return table(tmp_path / "sizes.csv")


def test_streamed_table_matches_in_memory(env: Path, tmp_path: Path) -> None:
    import kerasforge
    from kerasforge.data.loader import load_dataset
    from kerasforge.recipe import DataSpec

    memory = kerasforge.train(recipe(env, tmp_path / "runs", False), show_summary=False, report=False)
    streamed = kerasforge.train(recipe(env, tmp_path / "runs", True), show_summary=False, report=False)
    assert json.loads((memory.path / "run.json").read_text())["data_path"]["stream"] is False
    assert json.loads((streamed.path / "run.json").read_text())["data_path"]["stream"] is True
    assert memory.metrics["test_accuracy"] >= 0.85 and streamed.metrics["test_accuracy"] >= 0.85
    # the streamed model takes raw features and scales them itself, with the in-memory path's statistics
    assert streamed.model.layers[0].name == "kforge_input_scaling"
    pre = json.loads((streamed.path / "data.json").read_text())["preprocessing"]
    host = load_dataset(DataSpec(dataset="csv", path=str(env), target="kind", normalize="standardize"), seed=4)
    assert np.allclose(np.asarray(host.x_train).mean(axis=0), 0, atol=1e-5)  # standardised before the carve
    x = np.asarray(kerasforge.data.split_validation(host, 0.2, seed=4).x_train)
    assert len(pre["in_model"]["offset"]) == x.shape[1] == 5  # size, weight, two colours, noise
    raw = load_dataset(DataSpec(dataset="csv", path=str(env), target="kind", stream=True), seed=4, compact=True,
                       validation_split=0.2)
    assert isinstance(raw.x_test, np.memmap)
    scaled = (np.asarray(raw.x_train) - pre["in_model"]["offset"]) / pre["in_model"]["divisor"]
    assert np.allclose(scaled, x, atol=1e-5)  # the same numbers both ways
    # the two models agree on almost all of the same test set
    agree = np.mean(np.argmax(streamed.model.predict(np.asarray(raw.x_test), verbose=0), 1)
                    == np.argmax(memory.model.predict(host.x_test, verbose=0), 1))
    assert agree >= 0.98
    # the same numbers in the same order (train.shuffle is false): the same training, up to float rounding
    assert abs(memory.metrics["test_loss"] - streamed.metrics["test_loss"]) < 0.005


def test_parquet_recipe_trains(env: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow.csv")
    import pyarrow.parquet as pq

    import kerasforge

    pq.write_table(pa.read_csv(env), tmp_path / "sizes.parquet")
    run = kerasforge.train(recipe(tmp_path / "sizes.parquet", tmp_path / "runs", "auto"), show_summary=False,
                           report=False)
    assert run.metrics["test_accuracy"] >= 0.85
