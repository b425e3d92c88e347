"""Accuracy parity: the same recipe trained streaming (``data.stream: true``) and in memory, over several seeds.

For each recipe and seed, one run with ``data.stream: false`` and one with ``true`` (alternated, each a fresh
child process, ``--set``-style overrides such as ``train.epochs=2`` to fit the time at hand). The streamed
path reads batches from the decoded cache through Grain with a seeded permutation per epoch; the in-memory
path is Keras' (or the scanned) loop on arrays, so the two see different example orders and are compared as
distributions: the gap of the means against the seed spread (standard deviation, and the range) of each.
Prints a table and writes JSON.

Example:
    nice -n 5 python benchmarks/data_parity.py --recipes mnist_cnn --seeds 1 2 3 --set train.epochs=2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys
import kerasforge
run = kerasforge.train(json.loads(sys.argv[1]), show_summary=False, report=False, track=False)
info = json.loads((run.path / "run.json").read_text())
print("RESULT" + json.dumps({"test_accuracy": run.metrics.get("test_accuracy"), "epochs_done": info.get("epochs_done"),
      "streamed": bool((info.get("data_path") or {}).get("stream")), "timings": info.get("timings")}))
"""


def run_child(recipe: dict, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(recipe)], capture_output=True, text=True, env=env)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"}
    return json.loads(line[6:])


def summarise(accs: list[float]) -> dict:
    return {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "min": min(accs), "max": max(accs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["mnist_cnn", "cats_dogs_scratch"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override for every run, e.g. train.epochs=2 (recipe:field=value for one recipe)")
    parser.add_argument("--workdir", default="/tmp/kforge-data-parity")
    parser.add_argument("--json", default="benchmarks/results/data_parity.json")
    args = parser.parse_args()
    from kerasforge.recipe import load_recipe

    env = {**os.environ, "KFORGE_NO_TRACK": "1"}
    out: dict = {"machine": "shared machine (2 cores, other sessions working)", "date": time.strftime("%Y-%m-%d %H:%M"),
                 "command": " ".join(["python", *sys.argv]), "recipes": {}}
    for name in args.recipes:
        sets = [o.split(":", 1)[1] if ":" in o.split("=", 1)[0] else o for o in args.overrides
                if ":" not in o.split("=", 1)[0] or o.split(":", 1)[0] == name]
        runs: dict[str, list[dict]] = {"in_memory": [], "stream": []}
        for i, seed in enumerate(args.seeds):
            for stream in ((False, True) if i % 2 == 0 else (True, False)):
                recipe = load_recipe(name, [*sets, f"seed={seed}", f"data.stream={str(stream).lower()}",
                                            f"output.dir={Path(args.workdir) / 'runs'}"]).to_dict()
                result = {"seed": seed, **run_child(recipe, env)}
                runs["stream" if stream else "in_memory"].append(result)
                print(f"  {name} seed {seed} {'stream' if stream else 'in memory'}: "
                      + (result["error"][-300:] if "error" in result else f"{result['test_accuracy']:.4f}"), flush=True)
        entry: dict = {"overrides": sets, "runs": runs}
        for path, results in runs.items():
            accs = [r["test_accuracy"] for r in results if "error" not in r]
            if accs:
                entry[path] = summarise(accs)
        if "in_memory" in entry and "stream" in entry:
            gap = entry["stream"]["mean"] - entry["in_memory"]["mean"]
            spread = max(entry["stream"]["std"], entry["in_memory"]["std"])
            entry["gap"], entry["within_seed_spread"] = gap, abs(gap) <= spread
        out["recipes"][name] = entry
    print(f"\n{'recipe':>18} {'path':>10} {'test accuracy per seed':>30} {'mean ± std':>16} {'gap':>8} {'within':>7}")
    for name, entry in out["recipes"].items():
        for path in ("in_memory", "stream"):
            if path not in entry:
                continue
            each = ", ".join(f"{r['test_accuracy']:.4f}" for r in entry["runs"][path] if "error" not in r)
            s = entry[path]
            tail = (f"{entry['gap']:>+8.4f} {str(entry['within_seed_spread']):>7}" if path == "stream" and "gap" in entry
                    else "")
            print(f"{name:>18} {path:>10} {each:>30} {s['mean']:.4f} ± {s['std']:.4f} {tail}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
