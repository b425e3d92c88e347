"""Callbacks from the recipe, history on disk, and per-epoch resume points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerasforge.errors import RecipeError
from kerasforge.recipe import load_recipe
from kerasforge.training.callbacks import (
    history_recorder,
    make_callbacks,
    read_resume_point,
    resume_checkpointer,
)


def callbacks_of(specs: list, run_dir: Path) -> list:
    recipe = load_recipe({"data": {"dataset": "digits"}, "model": {"layers": ["Flatten"]},
                          "train": {"callbacks": specs}})
    return make_callbacks(recipe.train.callbacks, run_dir, initial_lr=0.01)


def test_paths_land_inside_the_run_folder(tmp_path: Path):
    made = callbacks_of([{"type": "ModelCheckpoint", "save_best_only": True}, "CSVLogger",
                         {"type": "TensorBoard"}, {"type": "EarlyStopping", "patience": 2},
                         {"type": "LearningRateScheduler", "schedule": "step_decay", "every": 2}], tmp_path)
    names = [type(c).__name__ for c in made]
    assert names == ["ModelCheckpoint", "CSVLogger", "TensorBoard", "EarlyStopping", "LearningRateScheduler"]
    assert made[0].filepath == str(tmp_path / "checkpoints" / "best.keras")
    assert made[1].filename == str(tmp_path / "history.csv")
    assert made[3].patience == 2
    assert made[4].schedule(2, 0.01) == pytest.approx(0.005)


def test_checkpoint_file_name_must_fit_keras(tmp_path: Path):
    with pytest.raises(RecipeError, match=r"\.keras") as info:
        callbacks_of([{"type": "ModelCheckpoint", "filepath": "best.h5"}], tmp_path)
    assert info.value.where == "train.callbacks[0].filepath"


def test_user_callback_by_reference(tmp_path: Path, monkeypatch):
    (tmp_path / "my_callbacks.py").write_text(
        "import keras\nclass Counter(keras.callbacks.Callback):\n"
        "    def __init__(self, start=0):\n        super().__init__()\n        self.count = start\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    made = callbacks_of([{"type": "my_callbacks:Counter", "start": 5}], tmp_path)
    assert type(made[0]).__name__ == "Counter" and made[0].count == 5


def test_history_and_resume_point_after_every_epoch(tmp_path: Path):
    import keras

    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history: dict = {}
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[history_recorder(tmp_path / "history.json", history),
                         resume_checkpointer(tmp_path / "ckpt", history)])
    on_disk = json.loads((tmp_path / "history.json").read_text())
    assert on_disk["epoch"] == [1, 2, 3] and len(on_disk["val_loss"]) == 3
    assert "learning_rate" in on_disk
    state = read_resume_point(tmp_path / "ckpt")
    assert state["epochs_done"] == 3 and state["history"]["epoch"] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("*.weights.h5")) == ["resume-3.weights.h5"]

    clone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    clone.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    clone.optimizer.build(clone.trainable_variables)
    clone.load_weights(tmp_path / "ckpt" / state["weights"])
    assert int(clone.optimizer.iterations) == int(model.optimizer.iterations)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_half_written_resume_point_is_ignored(tmp_path: Path):
    (tmp_path / "resume.json").write_text('{"epochs_done": 2, "weights": "resume-2.weights.h5"')
    assert read_resume_point(tmp_path) is None
    (tmp_path / "resume.json").write_text('{"epochs_done": 2, "weights": "resume-2.weights.h5"}')
    assert read_resume_point(tmp_path) is None  # the weights it points to are missing
