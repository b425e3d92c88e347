"""Streaming vs in memory through the whole pipeline, on a small real JPEG folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def colour_folder(root: Path, per_class: int = 30) -> Path:
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 40, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    return root


def recipe(folder: Path, out: Path, stream) -> dict:
    return {"name": "colours", "seed": 3,
            "data": {"dataset": "image_folder", "path": str(folder), "image_size": [12, 12], "stream": stream,
                     "normalize": "standardize"},
            "model": {"layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
                                 {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 3, "activation": "softmax"}]},
            "train": {"epochs": 4, "batch_size": 8, "validation_split": 0.2,
                      "optimizer": {"type": "adam", "learning_rate": 0.05}},
            "output": {"dir": str(out), "formats": ["keras"]}}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KFORGE_MEMORY_BUDGET", raising=False)
    return colour_folder(tmp_path / "colours")


def test_streaming_matches_in_memory(env: Path, tmp_path: Path) -> None:
    import kerasforge

    memory = kerasforge.train(recipe(env, tmp_path / "runs", False), show_summary=False, report=False)
    streamed = kerasforge.train(recipe(env, tmp_path / "runs", True), show_summary=False)
    assert memory.metrics["test_accuracy"] >= 0.9 and streamed.metrics["test_accuracy"] >= 0.9
    info = json.loads((streamed.path / "run.json").read_text())
    assert info["data_path"]["stream"] is True and info["data_path"]["reason"] == "data.stream is true"
    assert json.loads((memory.path / "run.json").read_text())["data_path"]["stream"] is False
    assert (streamed.path / "report.html").is_file()
    # the model takes raw pixels: its first layer scales them, and predicting a file agrees with the labels
    assert streamed.model.layers[0].name == "kforge_input_scaling"
    data = json.loads((streamed.path / "data.json").read_text())
    assert data["preprocessing"]["in_model"]["normalize"] == "standardize"
    assert data["preprocessing"]["divisor"] == [1.0, 1.0, 1.0]
    from kerasforge.predict import predict

    pred = predict(streamed.path, [env / "red" / "0.jpg", env / "blue" / "3.jpg"])
    assert [p["top"][0][0] for p in pred] == ["red", "blue"]


def test_preflight_refuses_with_numbers(env: Path, tmp_path: Path) -> None:
    import yaml

    yaml_path = tmp_path / "r.yaml"
    yaml_path.write_text(yaml.safe_dump(recipe(env, tmp_path / "runs", False)))
    proc = subprocess.run([sys.executable, "-m", "kerasforge.cli", "train", str(yaml_path)], capture_output=True,
                          text=True, env={**__import__("os").environ, "KFORGE_MEMORY_BUDGET": "20K"}, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "does not fit in memory" in proc.stderr + proc.stdout
    assert "0 MiB is available ($KFORGE_MEMORY_BUDGET)" in " ".join((proc.stderr + proc.stdout).split())
    assert "Traceback" not in proc.stderr


def test_killed_streaming_run_resumes_with_the_same_order(env: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    import kerasforge
    from kerasforge.data.stream import EpochBatches

    seen: dict[str, dict[tuple[int, int], list[int]]] = {}
    current = {"run": ""}
    real = EpochBatches.__getitem__

    def recording(self, i):  # a spy on the real source: which labels each batch of each epoch holds
        batch = real(self, i)
        if self.shuffle:
            seen.setdefault(current["run"], {})[(self.epoch, i)] = np.asarray(batch[1]).tolist()
        return batch

    monkeypatch.setattr(EpochBatches, "__getitem__", recording)

    class KillAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    spec = recipe(env, tmp_path / "runs-a", True)
    spec["train"]["epochs"] = 2
    current["run"] = "whole"
    whole = kerasforge.train(spec, show_summary=False, report=False)
    spec["output"]["dir"] = str(tmp_path / "runs-b")
    current["run"] = "killed"
    with pytest.raises(KeyboardInterrupt):
        kerasforge.train(spec, show_summary=False, report=False, callbacks=[KillAtSecondEpoch()])
    current["run"] = "resumed"
    resumed = kerasforge.train(spec, show_summary=False, report=False)
    assert resumed.info["epochs_done"] == whole.info["epochs_done"] == 2 and len(resumed.history["loss"]) == 2
    second = {k: v for k, v in seen["whole"].items() if k[0] == 1}
    assert second and second == {k: v for k, v in seen["resumed"].items() if k[0] == 1}
    assert {k: v for k, v in seen["whole"].items() if k[0] == 0} == seen["killed"]
    assert not any(k[0] == 0 for k in seen["resumed"])  # the finished epoch is not trained again


def review_folder(root: Path, per_class: int = 150) -> Path:
    """A few hundred short reviews in train/ and test/ folders of pos/ and neg/, learnable from a few words."""
    rng = np.random.default_rng(0)
    words = {"pos": "great wonderful superb moving loved".split(), "neg": "awful boring dull terrible hated".split()}
    filler = "the a film movie story actor plot scene was and it of to in".split()
    for split in ("train", "test"):
        for label, cue in words.items():
            (root / split / label).mkdir(parents=True)
            for i in range(per_class if split == "train" else per_class // 3):
                text = [*rng.choice(filler, 10), *rng.choice(cue, 2)]
                rng.shuffle(text)
                (root / split / label / f"{i}.txt").write_text(" ".join(text), "utf-8")
    return root


def text_recipe(folder: Path, out: Path, stream) -> dict:
    return {"name": "reviews", "seed": 5,
            "data": {"dataset": "text_folder", "path": str(folder), "stream": stream},
            "model": {"layers": [{"type": "TextVectorization", "max_tokens": 64, "output_mode": "tf_idf",
                                  "pad_to_max_tokens": True},
                                 {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
            "train": {"epochs": 1, "batch_size": 16, "validation_split": 0.2, "shuffle": False,
                      "optimizer": {"type": "adam", "learning_rate": 0.05}},
            "output": {"dir": str(out), "formats": ["keras"]}}


def test_text_folder_streams_like_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same data order (shuffle off) -> the same first epoch, evaluation and predictions; the streamed run
    never reads all its texts (the vocabulary is adapted from batches of the cache)."""
    import kerasforge
    from kerasforge.data.text_cache import CachedTexts

    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KFORGE_MEMORY_BUDGET", raising=False)
    folder = review_folder(tmp_path / "reviews")
    memory = kerasforge.train(text_recipe(folder, tmp_path / "runs", False), show_summary=False, report=False,
                              track=False)
    with monkeypatch.context() as spy:
        spy.setattr(CachedTexts, "__array__", lambda *a, **k: pytest.fail("the streamed run read all the texts"))
        streamed = kerasforge.train(text_recipe(folder, tmp_path / "runs", True), show_summary=False, track=False)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(streamed.history[key], memory.history[key], rtol=1e-4)
    assert streamed.metrics["test_accuracy"] == pytest.approx(memory.metrics["test_accuracy"])
    assert streamed.metrics["test_accuracy"] >= 0.9 and streamed.metrics["test_examples"] == 100
    info = json.loads((streamed.path / "run.json").read_text())
    assert info["data_path"]["stream"] is True and info["data_path"]["details"]["resident_data"] > 0
    assert json.loads((memory.path / "run.json").read_text())["data_path"]["stream"] is False
    html = (streamed.path / "report.html").read_text()  # its top-loss table shows texts read from the cache
    assert any(f.read_text() in html for f in (folder / "test").rglob("*.txt"))
    from kerasforge.predict import predict

    (tmp_path / "mine.txt").write_text("a wonderful superb film, I loved it")
    assert predict(streamed.path, [tmp_path / "mine.txt"])[0]["top"][0][0] == "pos"
