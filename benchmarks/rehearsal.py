"""What the rehearsal before training costs: its seconds (from run.json) beside the training it precedes, and
the whole process of ``kforge check RECIPE`` beside ``kforge check RECIPE --data``.

    .venv/bin/python benchmarks/rehearsal.py [--recipes digits_mlp,fashion_mnist_mlp,mnist_cnn]
        [--epochs 1] [--subset 2000] [--out benchmarks/results/rehearsal.json]

Each recipe is trained once (``kforge train --set train.epochs=E --set data.subset=N``, no report, no
tracking) in its own process, on the backend kforge picks for it; the table gives the rehearsal's seconds
(``run.json`` ``rehearsal.seconds``), the training's (``timings.fit_s``) and the rehearsal as a share of
them. Then ``kforge check`` runs with and without ``--data`` (whole process, wall time). Prints a table and
writes JSON (machine, load average, versions, command); on a shared machine the absolute figures move with
the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kforge(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "KFORGE_NO_TRACK": "1", "KFORGE_WAIT": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "kerasforge.cli", *args], capture_output=True, text=True,
                            env=env, timeout=1800)
    return result, time.perf_counter() - start


def measure(recipe: str, epochs: int, subset: int) -> dict:
    sets = ["--set", f"train.epochs={epochs}", "--set", f"data.subset={subset}"]
    with tempfile.TemporaryDirectory() as out:
        result, wall = kforge("train", recipe, *sets, "--output", out, "-q")
        if result.returncode:
            return {"recipe": recipe, "error": result.stderr[-500:]}
        (run,) = [p for p in Path(out).iterdir() if (p / "run.json").is_file()]
        info = json.loads((run / "run.json").read_text())
        env = json.loads((run / "env.json").read_text())
    check, check_s = kforge("check", recipe, *sets)
    data, data_s = kforge("check", recipe, *sets, "--data")
    rehearsal_s, fit_s = info["rehearsal"]["seconds"], info["timings"]["fit_s"]
    return {"recipe": recipe, "backend": env.get("backend"), "rehearsal_s": rehearsal_s, "fit_s": fit_s,
            "share": rehearsal_s / (rehearsal_s + fit_s), "train_wall_s": wall, "check_s": check_s,
            "check_data_s": data_s, "check_ok": check.returncode == 0 and data.returncode == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="digits_mlp,fashion_mnist_mlp,mnist_cnn")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rehearsal.json"))
    args = parser.parse_args()
    rows = [measure(name, args.epochs, args.subset) for name in args.recipes.split(",")]
    print(f"{'recipe':20} {'backend':10} {'rehearsal s':>11} {'fit s':>7} {'share':>6} {'check s':>8} "
          f"{'check --data s':>14}")
    for row in rows:
        if "error" in row:
            print(f"{row['recipe']:20} failed: {row['error']}")
            continue
        print(f"{row['recipe']:20} {row['backend'] or '?':10} {row['rehearsal_s']:11.2f} {row['fit_s']:7.2f} "
              f"{row['share']:6.1%} {row['check_s']:8.2f} {row['check_data_s']:14.2f}")
    import keras  # noqa: F401 - its version, for the record

    record = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "python": platform.python_version(), "keras": sys.modules["keras"].__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
