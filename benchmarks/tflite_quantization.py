"""Size, accuracy and single-image latency of one run's TFLite exports: float32, dynamic, float16 and int8.

    .venv/bin/python benchmarks/tflite_quantization.py [--run RUN | --recipe fashion_mnist_cnn --epochs 2]
        [--examples 2000] [--latency-images 300] [--out benchmarks/results/tflite_quantization.json]

Without ``--run`` it trains ``--recipe`` for ``--epochs`` first (``kforge train``, the whole dataset). Each
variant is exported by ``kforge export`` (verified as always), then reloaded with
:func:`kerasforge.export.tflite.load` and measured on the same ``--examples`` held-out test examples as the
Keras model: accuracy, and how often its top class agrees with the Keras model's. Latency: one image per
call in the LiteRT interpreter, the variants taking turns image by image (so a busy machine slows them
alike); medians. Prints a table and writes JSON (machine, load average, versions, command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("tflite", "tflite-dynamic", "tflite-float16", "tflite-int8")


def train(recipe: str, epochs: int, root: Path) -> Path:
    """A run of ``recipe`` trained ``epochs`` epochs under ``root``."""
    subprocess.run([sys.executable, "-m", "kerasforge.cli", "train", recipe, "--set", f"train.epochs={epochs}",
                    "--output", str(root), "-q"], check=True, env={**os.environ, "KFORGE_NO_TRACK": "1"})
    (run,) = [p for p in root.iterdir() if (p / "run.json").is_file()]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an existing run folder (default: train --recipe)")
    parser.add_argument("--recipe", default="fashion_mnist_cnn")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=2000, help="held-out test examples measured on")
    parser.add_argument("--latency-images", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results/tflite_quantization.json")
    args = parser.parse_args()

    load_before = list(os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="kforge-tflite-bench-"))
    started = time.perf_counter()
    run = Path(args.run) if args.run else train(args.recipe, args.epochs, work / "runs")
    train_s = time.perf_counter() - started
    out = work / "exports"
    subprocess.run([sys.executable, "-m", "kerasforge.cli", "export", str(run), "--format", ",".join(VARIANTS),
                    "--output", str(out), "--examples", "256", "-q"], check=True)

    import numpy as np

    from kerasforge.export.session import open_session
    from kerasforge.export.tflite import load
    from kerasforge.export.verify import accuracy

    session = open_session(run, examples=args.examples)
    keras_top = session.reference.argmax(axis=1)
    rows, predictors = {}, {}
    for name in VARIANTS:
        card = json.loads((out / name / "model_card.json").read_text())
        predictors[name] = load(out / name)
        probs = np.concatenate([predictors[name](session.x[i:i + 256]) for i in range(0, len(session.x), 256)])
        rows[name] = {"bytes": card["size_bytes"], "accuracy": accuracy(probs, session.y),
                      "agrees_with_keras": float(np.mean(probs.argmax(axis=1) == keras_top)),
                      "max_abs_diff": float(np.max(np.abs(probs - session.reference))),
                      "input": card["input"]["dtype"], "output": card["output"]["dtype"], "latency_ms": []}
    for i in range(args.latency_images):
        image = session.x[i % len(session.x)][None]
        for name in VARIANTS:
            t = time.perf_counter()
            predictors[name](image)
            rows[name]["latency_ms"].append((time.perf_counter() - t) * 1000)
    keras_accuracy = accuracy(session.reference, session.y)
    print(f"run {run.name}: {len(session.x)} held-out test examples, Keras accuracy {keras_accuracy:.4f}")
    print(f"{'variant':16} {'size KiB':>9} {'x float32':>9} {'accuracy':>9} {'= Keras top':>11} "
          f"{'max |dp|':>9} {'I/O':>15} {'ms/image':>9}")
    for name, row in rows.items():
        row["latency_ms_median"] = statistics.median(row.pop("latency_ms"))
        row["size_ratio"] = row["bytes"] / rows["tflite"]["bytes"]
        print(f"{name:16} {row['bytes'] / 1024:9.1f} {row['size_ratio']:9.2f} {row['accuracy']:9.4f} "
              f"{row['agrees_with_keras']:11.4f} {row['max_abs_diff']:9.4f} "
              f"{row['input'] + '/' + row['output']:>15} {row['latency_ms_median']:9.3f}")

    import keras
    import tensorflow as tf

    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "run": run.name, "recipe": args.recipe if not args.run else None,
              "epochs": args.epochs if not args.run else None, "train_s": round(train_s, 1),
              "examples": len(session.x), "keras_accuracy": keras_accuracy, "variants": rows,
              "machine": {"cpu": platform.processor(), "cores": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "load_average_before": load_before,
                          "load_average_after": list(os.getloadavg())},
              "versions": {"keras": keras.__version__, "tensorflow": tf.__version__}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
