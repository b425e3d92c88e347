"""Large tables: a generated CSV bigger than a memory cgroup's limit, read in chunks and trained one epoch inside it.

Writes a learnable CSV (``--columns`` float columns, the class a linear rule of the first four, a few
missing cells) of about ``--gib`` GiB with pyarrow, then runs ``kerasforge.train`` (``data.stream: auto``)
in a child process placed in a cgroup-v1 memory group limited to ``--limit`` (root needed; without the
controller it runs unconfined and says so), twice: the first run reads the CSV into the decoded cache,
the second reuses it. Reports the CSV size, peak RSS, the path the pre-flight chose, test accuracy, data
preparation and epoch time, and the peak of anonymous memory (``RssAnon``, sampled every 50 ms: the heap
and arrays, without the file-backed pages of memory maps and libraries that ``ru_maxrss`` also counts);
prints a table and writes JSON.

Example:
    python benchmarks/table_scale.py --gib 1.3 --limit 1G --json benchmarks/results/table_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from data_scale import cgroup  # noqa: E402 - the same cgroup-v1 group as the image benchmark
from data_scale import run_child as run_image_child  # noqa: E402

CHILD = r"""
import json, resource, sys, threading, time
peak = {"anon_kib": 0}
def watch():  # anonymous memory (heap, arrays), not the file-backed pages of memory maps and libraries
    while True:
        with open("/proc/self/status") as fh:
            kib = next(int(ln.split()[1]) for ln in fh if ln.startswith("RssAnon:"))
        peak["anon_kib"] = max(peak["anon_kib"], kib)
        time.sleep(0.05)
threading.Thread(target=watch, daemon=True).start()
import kerasforge
t = time.perf_counter()
run = kerasforge.train(json.loads(sys.argv[1]), show_summary=False, report=False, track=False)
info = json.loads((run.path / "run.json").read_text())
print("RESULT" + json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "peak_anon_mib": peak["anon_kib"] / 1024, "metrics": run.metrics, "timings": info.get("timings"), "data_path": info.get("data_path"),
      "wall_s": time.perf_counter() - t}))
"""


def generate(path: Path, gib: float, columns: int, seed: int = 0) -> tuple[int, float]:
    """A CSV of about ``gib`` GiB: float columns f0..fK (17 significant digits), 1% missing in f5,
    class = sign of f0 + f1 - f2 - f3 (two classes, written 0/1). Returns (rows, seconds)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start, rng, rows = time.perf_counter(), np.random.default_rng(seed), 0
    block = 200_000
    with pacsv.CSVWriter(path, pa.schema([*(pa.field(f"f{i}", pa.float64()) for i in range(columns)),
                                          pa.field("label", pa.int64())])) as writer:
        while path.stat().st_size < gib * (1 << 30):
            x = rng.normal(size=(block, columns))
            y = (x[:, 0] + x[:, 1] - x[:, 2] - x[:, 3] > 0).astype(np.int64)
            cols = [pa.array(x[:, i], mask=(rng.random(block) < 0.01) if i == 5 else None) for i in range(columns)]
            writer.write_table(pa.table([*cols, pa.array(y)], names=[*(f"f{i}" for i in range(columns)), "label"]))
            rows += block
    return rows, time.perf_counter() - start


def run_child(recipe: dict, group: Path | None, env: dict) -> dict:
    """The table child inside ``group`` (the image benchmark's runner)."""
    return run_image_child(recipe, group, env, child=CHILD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.3, help="CSV size to generate")
    parser.add_argument("--columns", type=int, default=16)
    parser.add_argument("--limit", default="1G")
    parser.add_argument("--workdir", default="/tmp/kforge-table-scale")
    parser.add_argument("--json", default="benchmarks/results/table_scale.json")
    args = parser.parse_args()
    from kerasforge.data.memory import parse_bytes

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"table-{args.gib:g}g.csv"
    rows, gen_s = (None, 0.0)
    if not csv.is_file():
        rows, gen_s = generate(csv, args.gib, args.columns)
    limit = parse_bytes(args.limit)
    group = cgroup(limit)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first run reads the CSV, the second reuses the cache
    env = {**os.environ, "KFORGE_CACHE_DIR": str(cache), "KFORGE_NO_TRACK": "1"}
    recipe = {"name": "table_scale", "seed": 1,
              "data": {"dataset": "csv", "path": str(csv), "target": "label", "stream": "auto",
                       "normalize": "standardize"},
              "model": {"layers": [{"type": "Dense", "units": 32, "activation": "relu"},
                                   {"type": "Dense", "units": 2, "activation": "softmax"}]},
              "train": {"epochs": 1, "batch_size": 1024, "validation_split": 0.0,
                        "optimizer": {"type": "adam", "learning_rate": 0.003}},
              "output": {"dir": str(work / "runs"), "formats": ["keras"]}}
    result = {"csv_bytes": csv.stat().st_size, "rows_generated": rows, "generate_s": round(gen_s, 1),
              "cgroup_limit": limit if group else None}
    for attempt in ("first", "second"):
        if group is not None:
            (group / "memory.max_usage_in_bytes").write_text("0")
        result[attempt] = run_child(recipe, group, env)
        if group is not None:  # what the group was charged at most (anonymous memory and page cache)
            result[attempt]["cgroup_max_usage_mib"] = int((group / "memory.max_usage_in_bytes").read_text()) / (1 << 20)
    first, second = result["first"], result["second"]
    if "error" in first:
        print(first["error"])
    else:
        print(f"{'CSV MiB':>8} {'limit MiB':>9} {'run':>6} {'peak RSS MiB':>13} {'anon MiB':>9} {'path':>9} "
              f"{'test acc':>9} {'data s':>7} {'fit s':>7}")
        for name, r in (("first", first), ("second", second)):
            if "error" in r:
                print(f"{name}: {r['error']}")
                continue
            path = "stream" if (r.get("data_path") or {}).get("stream") else "memory"
            print(f"{csv.stat().st_size / (1 << 20):>8.0f} {(limit if group else 0) / (1 << 20):>9.0f} {name:>6} "
                  f"{r['peak_rss_mib']:>13.0f} {r['peak_anon_mib']:>9.0f} {path:>9} {r['metrics']['test_accuracy']:>9.4f} "
                  f"{r['timings']['data_s']:>7.1f} {r['timings'].get('fit_s', float('nan')):>7.1f}")
    Path(args.json).write_text(json.dumps({"machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d"),
                                           **result}, indent=2))
    if group is not None:
        group.rmdir()


if __name__ == "__main__":
    main()
