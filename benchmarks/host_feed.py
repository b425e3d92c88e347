"""How Keras is fed host-scaled uint8 pixels, in one process: epoch time of the same subclassed model.

``custom_train_step``'s model (``ClippedClassifier``, MLP 128/64) on MNIST's first 54,000 training
images, batch 32, ``steps_per_execution`` 64 (as the fast path sets it), fed by:

- ``arrays``: the whole split expanded to float32, Keras' own array path (the reference);
- ``grain``: uint8 rows streamed through Grain, scaled per batch (:func:`kerasforge.data.stream.fit_streamed`);
- ``in_memory``: :func:`kerasforge.data.array_pipeline.fit_in_memory` — ``tf.data`` on TensorFlow, chunks
  of batches elsewhere.

The feeds alternate (reversed every other round) so a busy machine weighs on all alike; the median of the
epochs after the first is compared with ``arrays``'. The backend is ``$KERAS_BACKEND``.

Example:
    KERAS_BACKEND=tensorflow PYTHONPATH=src python benchmarks/host_feed.py --rounds 2 --epochs 4 \
        --json benchmarks/results/host_feed_tensorflow.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--json", default="benchmarks/results/host_feed.json")
    args = parser.parse_args()

    import keras

    from kerasforge.console import set_quiet
    from kerasforge.data.array_pipeline import fit_in_memory, in_memory_feed
    from kerasforge.data.host_scaling import ScaledRows
    from kerasforge.data.stream import fit_streamed
    from kerasforge.models.zoo.custom import ClippedClassifier

    set_quiet(True)
    data = np.load(Path(os.environ.get("KFORGE_DATA_DIR", "/work/shared/data")) / "mnist.npz")
    x, y = data["x_train"][:54000].reshape(-1, 784), data["y_train"][:54000]
    rows, f32 = ScaledRows(x, [0.0], [255.0], (28, 28, 1)), x.astype(np.float32) / 255.0

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.times.append(time.perf_counter() - self.start)

    def run(feed: str) -> list[float]:
        keras.utils.set_random_seed(0)
        model = ClippedClassifier(10, hidden=[128, 64])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=64)
        timer = Timer()
        common = dict(epochs=args.epochs, batch_size=32, shuffle=True, callbacks=[timer], verbose=0)
        if feed == "arrays":
            model.fit(f32, y, **common)
        else:
            fit = fit_streamed if feed == "grain" else fit_in_memory
            fit(model, rows, y, validation_data=None, initial_epoch=0, class_weight=None, seed=1, **common)
        return timer.times

    feeds = ["arrays", "grain", "in_memory"]
    times: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for feed in feeds if r % 2 == 0 else feeds[::-1]:
            epochs = run(feed)
            times.setdefault(feed, []).extend(epochs[1:])
            print(f"round {r + 1} {feed:>10}: " + ", ".join(f"{t:.2f}" for t in epochs), flush=True)
    median = {feed: statistics.median(t) for feed, t in times.items()}
    backend = keras.backend.backend()
    print(f"\nbackend {backend}, in-memory feed {in_memory_feed()}\n{'feed':>10} {'median epoch s':>15} {'vs arrays':>10}")
    for feed in feeds:
        print(f"{feed:>10} {median[feed]:>15.2f} {median[feed] / median['arrays']:>9.2f}x")
    Path(args.json).write_text(json.dumps({
        "machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d %H:%M"), "backend": backend,
        "in_memory_feed": in_memory_feed(), "rounds": args.rounds, "epochs": args.epochs,
        "epoch_s_after_first": times, "median_epoch_s": median,
        "ratio_to_arrays": {feed: median[feed] / median["arrays"] for feed in feeds}}, indent=2))


if __name__ == "__main__":
    main()
