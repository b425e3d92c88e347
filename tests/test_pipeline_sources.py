"""The pipeline on sequence and raw-text data, with the file-writing callbacks and every save format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import kerasforge
from kerasforge.predict import predict

POSITIVE = "great wonderful brilliant moving superb loved delightful masterpiece".split()
NEGATIVE = "awful boring terrible dull waste hated clumsy disaster".split()
FILLER = "the film story actor scene plot music camera director ending".split()


def review_folder(root: Path, per_class: int = 120) -> Path:
    rng = np.random.default_rng(0)
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            text = " ".join(rng.choice(FILLER, 12).tolist() + rng.choice(words, 2).tolist())
            (root / label / f"{i}.txt").write_text(text)
    return root


def test_raw_text_with_text_vectorization_inside_the_model(tmp_path):
    recipe = {
        "name": "reviews",
        "data": {"dataset": "text_folder", "path": str(review_folder(tmp_path / "reviews"))},
        "model": {"layers": [
            {"type": "TextVectorization", "max_tokens": 100, "output_sequence_length": 16},
            {"type": "Embedding", "input_dim": 100, "output_dim": 8},
            "GlobalAveragePooling1D",
            {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
        "train": {"epochs": 30, "batch_size": 16, "optimizer": {"type": "adam", "learning_rate": 0.01}},
    }
    run = kerasforge.train(recipe, output_dir=tmp_path / "runs", show_summary=False)
    assert run.metrics["test_accuracy"] >= 0.9
    (tmp_path / "mine.txt").write_text("the story was a masterpiece and I loved the music")
    (top,) = predict(run.path, [tmp_path / "mine.txt"], top_k=2)
    assert top["top"][0][0] == "pos"


def test_imdb_word_ids_with_callbacks_that_write_files(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("KFORGE_DATA_DIR", str(shared_data))
    recipe = {
        "name": "imdb_small",
        "data": {"dataset": "imdb", "subset": 1000, "num_words": 2000, "maxlen": 80},
        "model": {"layers": [{"type": "Embedding", "input_dim": 2000, "output_dim": 16},
                             "GlobalAveragePooling1D", {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
        "train": {"epochs": 6, "batch_size": 32, "class_weight": "balanced", "metrics": ["accuracy", "AUC"],
                  "callbacks": ["TensorBoard", "CSVLogger", "BackupAndRestore",
                                {"type": "ModelCheckpoint", "save_best_only": True},
                                {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1}]},
        "output": {"formats": ["keras", "h5", "weights"]},
    }
    run = kerasforge.train(recipe, output_dir=tmp_path, show_summary=False)
    assert run.metrics["test_auc"] > 0.6 and run.metrics["test_accuracy"] > 0.55  # chance: 0.5
    names = {p.name for p in run.path.iterdir()}
    assert {"model.keras", "model.h5", "model.weights.h5", "history.csv", "tensorboard"} <= names
    assert (run.path / "checkpoints" / "best.keras").is_file()
    assert list((run.path / "tensorboard").rglob("*.v2"))  # event files were written
    assert run.data_info["kind"] == "sequence" and run.class_names == ["negative", "positive"]
