"""Scanned epochs on JAX (kerasforge.training.scanned), checked against Keras' own ``fit``/``evaluate``
on the real digits data. JAX runs in one subprocess (Keras' backend is fixed when it is first imported);
the checks below read what that process measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kerasforge.training.scanned import scan_layout

PROBE = r"""
import json, sys
import keras, numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import kerasforge
from kerasforge.recipe import TrainSpec
from kerasforge.training.fastpath import plan_fast_path
from kerasforge.training.scanned import ScannedTrainer, plan_scanned_epochs, scan_fallback_reason

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
x_train, x_val, y_train, y_val = x_train[:1100], x_train[1100:], y_train[:1100], y_train[1100:]

def build(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

out = {}
# 1. the same model trained both ways: accuracies, history keys, learning-rate schedule, batch-end calls
class CountBatches(keras.callbacks.Callback):
    fast_path_safe = True
    def __init__(self):
        super().__init__(); self.ends = []
    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(int(batch))

for way in ("keras", "scanned"):
    accs = []
    for seed in range(3):
        model = build(seed)
        schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 3e-3 * 0.5 ** epoch)
        counter = CountBatches()
        if way == "keras":
            history = model.fit(x_train, y_train, batch_size=32, epochs=8, validation_data=(x_val, y_val),
                                callbacks=[schedule, counter], verbose=0)
        else:
            history = ScannedTrainer(model, chunk=10).fit(
                x_train, y_train, batch_size=32, epochs=8, validation_data=(x_val, y_val),
                callbacks=[schedule, counter], verbose=0, seed=seed)
        accs.append(float(model.evaluate(x_test, y_test, verbose=0)[1]))
    out[way] = {"test_accuracy": accs, "keys": sorted(history.history),
                "learning_rate": [float(v) for v in history.history["learning_rate"]],
                "final_lr": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                "batch_ends_last_epoch": counter.ends[-4:], "batch_end_calls": len(counter.ends)}

# 2. evaluate: the scanned evaluation gives Keras' numbers (with a partial last batch: 497 = 15 x 32 + 17)
model = build(1)
trainer = ScannedTrainer(model)
trainer.fit(x_train, y_train, batch_size=32, epochs=2, verbose=0)
out["evaluate"] = {"keras": model.evaluate(x_test[:497], y_test[:497], batch_size=32, return_dict=True, verbose=0),
                   "scanned": trainer.evaluate(x_test[:497], y_test[:497], batch_size=32)}

# 3. early stopping restores the best weights through the scanned loop
model = build(2)
stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
history = ScannedTrainer(model).fit(x_train, y_train, batch_size=32, epochs=60, validation_data=(x_val, y_val),
                                    callbacks=[stop], verbose=0)
out["early_stopping"] = {"epochs": len(history.history["loss"]), "best": min(history.history["val_loss"]),
                         "after": float(model.evaluate(x_val, y_val, verbose=0)[0])}

# 4. class weights become per-example weights: a huge weight on one class makes it the answer everywhere
model = build(3)
ScannedTrainer(model).fit(x_train, y_train, batch_size=32, epochs=3, class_weight={c: (50.0 if c == 7 else 0.01)
                          for c in range(10)}, verbose=0)
out["class_weight_share_of_7"] = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == 7))

# 5. when the scanned loop steps aside
class OwnStep(keras.Model):
    def train_step(self, state, data):
        return super().train_step(state, data)
inputs = keras.Input((64,))
own = OwnStep(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
plan = plan_fast_path(TrainSpec(batch_size=32), x=x_train, y=y_train, callbacks=[], accelerator="cpu",
                      memory_bytes=10**10)
out["fallback"] = {"own_step": scan_fallback_reason(own, x_train),
                   "strings": scan_fallback_reason(build(), np.array(["a", "b"])),
                   "plan_for_own_step": plan_scanned_epochs(plan, own, x_train, TrainSpec(batch_size=32)),
                   "notes": plan.notes}
plan = plan_fast_path(TrainSpec(batch_size=32), x=x_train, y=y_train, callbacks=[], accelerator="cpu",
                      memory_bytes=10**10)
out["plan"] = {"used": plan_scanned_epochs(plan, build(), x_train, TrainSpec(batch_size=32)),
               "describe": plan.describe(), "chunk": plan.scan_chunk}
print("PROBE " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "KFORGE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=400)
    line = next((line for line in result.stdout.splitlines() if line.startswith("PROBE ")), None)
    assert line, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(line[len("PROBE "):])


def test_scanned_epochs_learn_as_well_as_keras_fit(probe):
    keras_acc, scanned_acc = probe["keras"]["test_accuracy"], probe["scanned"]["test_accuracy"]
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    assert min(scanned_acc) > 0.85  # chance is 0.1; the halving schedule keeps both ways near 0.9
    assert abs(mean(scanned_acc) - mean(keras_acc)) < 0.02, (keras_acc, scanned_acc)
    assert probe["scanned"]["keys"] == probe["keras"]["keys"]  # loss, accuracy, val_*, learning_rate


def test_callbacks_see_the_epoch_schedule_and_one_batch_end_per_compiled_call(probe):
    expected = [3e-3 * 0.5 ** epoch for epoch in range(8)]
    assert probe["scanned"]["learning_rate"] == pytest.approx(expected, rel=1e-5)
    assert probe["scanned"]["final_lr"] == pytest.approx(expected[-1], rel=1e-5)
    # 1,100 examples / 32 = 34 full batches, 10 per call: calls end at batches 9, 19, 29 and 33
    assert probe["scanned"]["batch_ends_last_epoch"] == [9, 19, 29, 33]
    assert probe["scanned"]["batch_end_calls"] == 8 * 4


def test_scanned_evaluation_matches_keras_evaluate_with_a_partial_last_batch(probe):
    keras_logs, scanned_logs = probe["evaluate"]["keras"], probe["evaluate"]["scanned"]
    assert set(scanned_logs) == set(keras_logs)
    for name, value in keras_logs.items():
        assert scanned_logs[name] == pytest.approx(value, abs=1e-5), name


def test_early_stopping_stops_and_restores_the_best_weights(probe):
    stopped = probe["early_stopping"]
    assert stopped["epochs"] < 60
    assert stopped["after"] == pytest.approx(stopped["best"], abs=1e-4)


def test_class_weights_reach_the_scanned_loss(probe):
    assert probe["class_weight_share_of_7"] > 0.5  # ~0.1 without the weights


def test_models_with_their_own_steps_or_string_inputs_keep_keras_loop(probe):
    fallback = probe["fallback"]
    assert fallback["own_step"] == "the model has its own train_step"
    assert fallback["strings"] == "the features are not numeric arrays"
    assert fallback["plan_for_own_step"] is False
    assert any("Keras' own loop (the model has its own train_step)" in note for note in fallback["notes"])
    assert probe["plan"]["used"] is True and probe["plan"]["chunk"] is None  # 34 steps < 64: one call per epoch
    assert "scanned epochs" in probe["plan"]["describe"] and "last 12 examples" in probe["plan"]["describe"]


def test_kforge_train_of_a_dense_network_picks_jax_uses_scanned_epochs_and_records_it(tmp_path: Path):
    recipe = {"name": "digits_scan", "seed": 1, "data": {"dataset": "digits"},
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                                   {"type": "Dense", "units": 10, "activation": "softmax"}]},
              "train": {"optimizer": {"type": "adam", "learning_rate": 0.003}, "epochs": 6, "batch_size": 32,
                        "validation_split": 0.2}, "output": {"formats": ["keras"]}}
    path = tmp_path / "digits_scan.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "KFORGE_OFFLINE": "1", "KFORGE_NO_TRACK": "1", "COLUMNS": "300",
           "TF_CPP_MIN_LOG_LEVEL": "2", "KFORGE_COMPILE_CACHE": str(tmp_path / "compiled")}
    env.pop("KERAS_BACKEND", None)  # a dense network: kerasforge picks JAX by itself (CPU or GPU)
    result = subprocess.run([sys.executable, "-m", "kerasforge.cli", "train", str(path), "--output",
                             str(tmp_path / "runs")], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "scanned epochs" in " ".join((result.stdout + result.stderr).split())  # the console may wrap lines
    run = next((tmp_path / "runs").glob("digits_scan-*"))
    info = json.loads((run / "run.json").read_text())
    assert info["fast_path"]["scanned"] is True
    assert json.loads((run / "env.json").read_text())["backend"] == "jax"
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.85
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 6
    assert any((tmp_path / "compiled").iterdir())  # JAX's persistent compilation cache, for the next run


def test_layout_cuts_an_epoch_into_full_batches_and_calls():
    layout = scan_layout(1_000, 64, chunk=5)
    assert (layout.steps, layout.chunk, layout.dropped, layout.calls) == (15, 5, 40, 3)
    assert scan_layout(1_000, 64).calls == 1
