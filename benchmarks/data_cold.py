"""Cold start, side by side: decode and train the first epoch of ``cats_and_dogs_filtered`` at 160x160.

kforge (``cats_dogs_scratch``, an empty ``$KFORGE_CACHE_DIR``: every JPEG is decoded into the cache, then
one epoch is trained and the 1,000 held-out photos are evaluated) against the tutorials' pipeline
(``keras.utils.image_dataset_from_directory(..., image_size=(160, 160))`` + ``.cache().prefetch(AUTOTUNE)``,
``fit(train, validation_data=validation, epochs=1)``): the same model (the recipe's layers, rescaling
inside), the same batch size (32), the same optimizer, the same backend (TensorFlow on the CPU). kforge runs
twice: as it chooses (mixed bfloat16 on a CPU with bf16 instructions) and with ``train.precision=float32``
(the tutorial's precision: the data pipelines alone compared). Both train on
the 2,000 training photos and run the 1,000 validation photos through the model once. Each run is a fresh
child process; the two are alternated ``--repeats`` times so a busy machine weighs on both alike. Timed:
from after ``import keras`` to the end of that first epoch and pass over the 1,000 photos (for kforge:
data preparation + model build + fit + evaluation from its ``run.json`` timings, and the wall time of the
whole ``kerasforge.train`` call). Prints a table and writes JSON.

Example:
    nice -n 5 python benchmarks/data_cold.py --repeats 3 --json benchmarks/results/data_cold.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

KFORGE = r"""
import json, sys, time
import keras
import kerasforge
from kerasforge.recipe import load_recipe
folder, out, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
recipe = load_recipe("cats_dogs_scratch", ["train.epochs=1", "train.validation_split=0.0", "train.callbacks=[]",
                                           f"data.path={folder}", f"output.dir={out}", "output.formats=[keras]",
                                           *extra])
t = time.perf_counter()
run = kerasforge.train(recipe, show_summary=False, report=False, track=False)
wall = time.perf_counter() - t
info = json.loads((run.path / "run.json").read_text())
tm = info.get("timings", {})
print("RESULT" + json.dumps({"seconds": tm["data_s"] + tm["build_s"] + tm["fit_s"] + tm["evaluate_s"],
      "train_call_s": wall, "timings": tm, "accuracy": run.metrics.get("test_accuracy"),
      "data_path": info.get("data_path"), "fast_path": info.get("fast_path")}))
"""

TUTORIAL = r"""
import json, sys, time
import keras
import tensorflow as tf
from keras import layers
folder = sys.argv[1]
t = time.perf_counter()
train = keras.utils.image_dataset_from_directory(folder + "/train", image_size=(160, 160), batch_size=32,
                                                 shuffle=True, seed=42)
val = keras.utils.image_dataset_from_directory(folder + "/validation", image_size=(160, 160), batch_size=32,
                                               shuffle=False)
train = train.cache().prefetch(tf.data.AUTOTUNE)
val = val.cache().prefetch(tf.data.AUTOTUNE)
model = keras.Sequential([
    keras.Input((160, 160, 3)), layers.Rescaling(1.0 / 255),
    layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1),
    layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(128, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(128, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
    layers.Dropout(0.3), layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.5),
    layers.Dense(2, activation="softmax")])
model.compile(keras.optimizers.Adam(0.0005), "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(train, validation_data=val, epochs=1, verbose=0)
print("RESULT" + json.dumps({"seconds": time.perf_counter() - t, "accuracy": history.history["val_accuracy"][-1]}))
"""


def extract(zip_path: Path, into: Path) -> Path:
    """The zip extracted once (neither side is timed on it); every file read once so both start page-cached."""
    folder = into / "cats_and_dogs_filtered"
    if not folder.is_dir():
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(into)
    for file in folder.rglob("*.jpg"):
        file.read_bytes()
    return folder


def child(code: str, args: list[str], env: dict) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"}
    return {**json.loads(line[6:]), "process_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=os.environ.get("KFORGE_DATA_DIR", "/work/shared/data"))
    parser.add_argument("--workdir", default=None, help="default: a temporary folder, removed at the end")
    parser.add_argument("--json", default="benchmarks/results/data_cold.json")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kforge-cold-"))
    folder = extract(Path(args.data) / "cats_and_dogs_filtered.zip", work)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "", "KFORGE_NO_TRACK": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    sides = ("kforge", "kforge_fp32", "tutorial")
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for i in range(args.repeats):
        for side in (sides if i % 2 == 0 else sides[::-1]):
            if side.startswith("kforge"):
                cache = work / f"cache-{i}"
                shutil.rmtree(cache, ignore_errors=True)  # cold: an empty $KFORGE_CACHE_DIR
                extra = ["train.precision=float32"] if side == "kforge_fp32" else []
                result = child(KFORGE, [str(folder), str(work / "runs"), *extra],
                               {**env, "KFORGE_CACHE_DIR": str(cache)})
                shutil.rmtree(cache, ignore_errors=True)
            else:
                result = child(TUTORIAL, [str(folder)], env)
            runs[side].append(result)
            print(f"  round {i + 1} {side}: " + (result["error"] if "error" in result else
                  f"{result['seconds']:.1f} s (accuracy after one epoch {result['accuracy']:.3f})"), flush=True)
    print(f"\n{'pipeline':>11} {'decode + 1st epoch, each run (s)':>34} {'median':>7} {'child process s':>16}")
    medians = {}
    for side, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            print(f"{side:>11} failed: {results[0]['error']}")
            continue
        medians[side] = statistics.median(r["seconds"] for r in ok)
        each = ", ".join(f"{r['seconds']:.1f}" for r in ok)
        print(f"{side:>11} {each:>34} {medians[side]:>7.1f} "
              f"{statistics.median(r['process_s'] for r in ok):>16.1f}")
    out = {"machine": "shared machine (2 cores, other sessions working)", "date": time.strftime("%Y-%m-%d %H:%M"),
           "command": " ".join(["python", *sys.argv]), "runs": runs, "median_s": medians}
    for side in ("kforge", "kforge_fp32"):
        if side in medians and "tutorial" in medians:
            out[f"{side}_over_tutorial"] = medians[side] / medians["tutorial"]
            print(f"{side} / tutorial, median: {out[f'{side}_over_tutorial']:.2f}x (below 1: kforge faster)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
