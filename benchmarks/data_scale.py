"""Data at any size: a generated, learnable JPEG folder trained one epoch, streaming, inside a memory cgroup.

Generates N JPEGs (160x160, 4 classes: the dominant colour of a noisy image), then runs
``kerasforge.train`` in a child process placed in a cgroup-v1 memory group limited to ``--limit`` (root
needed; without the controller it runs unconfined and says so). Reports peak RSS, test accuracy, decode
rate, data preparation and epoch time; prints a table and writes JSON.

``--scaling`` instead compares where raw pixels are scaled (issue 11, point 1): a functional CNN
(``fashion_mnist_cnn``'s layers as a ``graph:`` model) with the scaling layer inside vs the whole dataset
expanded to float32 on the host (the path functional models took before), and a subclassed model
(``custom_train_step``) with its uint8 pixels scaled per batch — in memory, fed by ``tf.data`` when they
fit ("now" on TensorFlow), streamed through Grain ("stream", ``data.stream: true``) — vs that float32
copy. ``--kinds subclassed`` runs the subclassed model only; the backend is ``$KERAS_BACKEND``.

Example:
    python benchmarks/data_scale.py --images 10000 --limit 3G --json benchmarks/data_scale.json
    python benchmarks/data_scale.py --scaling --json benchmarks/results/data_scaling.json
    KERAS_BACKEND=jax python benchmarks/data_scale.py --scaling --kinds subclassed --json /tmp/scaling_jax.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

COLOURS = {"red": (200, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 200), "yellow": (210, 200, 40)}
CHILD = r"""
import json, resource, sys, time
import kerasforge
t = time.perf_counter()
run = kerasforge.train(json.loads(sys.argv[1]), show_summary=False, report=True, track=False)
info = json.loads((run.path / "run.json").read_text())
print("RESULT" + json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "metrics": run.metrics, "timings": info.get("timings"), "data_path": info.get("data_path"),
      "wall_s": time.perf_counter() - t}))
"""


def _generate_chunk(folder: str, start: int, stop: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(start)
    names = list(COLOURS)
    for i in range(start, stop):
        name = names[i % len(names)]
        path = Path(folder) / name / f"{i}.jpg"
        if path.exists():
            continue
        base = np.array(COLOURS[name], np.float32)
        small = np.clip(base + rng.normal(0, 60, (size // 8, size // 8, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(small).resize((size, size)).save(path, quality=85)


def generate(folder: Path, n: int, size: int = 160) -> float:
    """N JPEGs of ``size``x``size`` in 4 class folders (the dominant colour under heavy noise), on all cores."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    for name in COLOURS:
        (folder / name).mkdir(parents=True, exist_ok=True)
    step = 1000
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_generate_chunk, [str(folder)] * len(range(0, n, step)), range(0, n, step),
                      [min(i + step, n) for i in range(0, n, step)], [size] * len(range(0, n, step))))
    return time.perf_counter() - start


def cgroup(limit: int) -> Path | None:
    root = Path("/sys/fs/cgroup/memory")
    if not (root / "cgroup.procs").exists():
        return None
    group = root / f"kforge-bench-{os.getpid()}"
    group.mkdir(exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(str(limit))
    return group


def run_child(recipe: dict, group: Path | None, env: dict, child: str = CHILD) -> dict:
    """Run ``child`` (Python source printing one ``RESULT {json}`` line) on ``recipe`` inside ``group``."""
    def enter() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
    proc = subprocess.run([sys.executable, "-c", child, json.dumps(recipe)], capture_output=True, text=True,
                          env=env, preexec_fn=enter)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"}
    return json.loads(line[6:])


# The path functional (and subclassed) models took before: no scaling layer, the data in float32 on the host
HOST_FLOAT32 = "import kerasforge.data.placement as placement; placement.can_scale_inside = lambda model: False\n"


def scaling(out: str, workdir: Path, epochs: int = 2, kinds: tuple[str, ...] = ("functional", "subclassed"),
            rounds: int = 1) -> None:
    """Prepared data and epoch time where the pixels are scaled: in the model / per batch (now; for the
    subclassed model also streamed, as before the in-memory feed) against the float32 copy on the host
    (before), one child process each, alternated per model kind; ``rounds`` repeats the variants (in
    reverse order every other round) and prints each one's median steady epoch against ``before``'s."""
    import statistics

    from kerasforge.recipe import load_recipe

    cases = []
    functional = load_recipe("fashion_mnist_cnn").to_dict()
    functional["model"] = {**functional["model"], "kind": "functional"}
    subclassed = load_recipe("custom_train_step").to_dict()
    models = {"functional": ("functional CNN, fashion_mnist", functional), "subclassed": ("subclassed MLP, mnist", subclassed)}
    for kind, recipe in (models[k] for k in kinds):
        recipe = {**recipe, "train": {**recipe["train"], "epochs": epochs, "callbacks": []},
                  "output": {**recipe["output"], "dir": str(workdir / "runs"), "formats": ["keras"]}}
        variants = ("now", "stream", "before") if kind.startswith("subclassed") else ("now", "before")
        for variant in [v for r in range(rounds) for v in (variants if r % 2 == 0 else variants[::-1])]:
            stream = {"before": False, "stream": True}.get(variant, recipe["data"].get("stream", "auto"))
            data = {**recipe["data"], "stream": stream}
            result = run_child({**recipe, "data": data}, None, {**os.environ, "KFORGE_NO_TRACK": "1"},
                               child=(HOST_FLOAT32 if variant == "before" else "") + CHILD)
            cases.append({"model": kind, "variant": variant, **result})
    backend = os.environ.get("KERAS_BACKEND", "jax")
    print(f"backend {backend}\n{'model':>30} {'variant':>7} {'scaled':>34} {'feed':>8} {'data MiB':>9} "
          f"{'peak RSS MiB':>13} {'steady epoch s':>15} {'test acc':>9}")
    for case in cases:
        if "error" in case:
            print(f"{case['model']:>30} {case['variant']:>7} {case['error'][-300:]}")
            continue
        path = case["data_path"]
        feed = path.get("feed") or ("grain" if path.get("stream") else "arrays")
        print(f"{case['model']:>30} {case['variant']:>7} {path.get('scaling', ''):>34} {feed:>8} "
              f"{path['data_bytes'] / 2**20:>9.0f} {case['peak_rss_mib']:>13.0f} "
              f"{case['timings'].get('steady_epoch_s', float('nan')):>15.2f} {case['metrics']['test_accuracy']:>9.4f}")
    medians: dict[str, dict[str, float]] = {}
    for case in cases:
        if "error" not in case:
            medians.setdefault(case["model"], {}).setdefault(case["variant"], []).append(  # type: ignore[arg-type]
                case["timings"]["steady_epoch_s"])
    medians = {m: {v: statistics.median(t) for v, t in by.items()} for m, by in medians.items()}  # type: ignore[misc]
    for model, by in medians.items():
        print(f"{model}: median steady epoch " + ", ".join(
            f"{v} {t:.2f} s ({t / by['before']:.2f}x before)" if "before" in by else f"{v} {t:.2f} s" for v, t in by.items()))
    Path(out).write_text(json.dumps({"machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d %H:%M"),
                                     "backend": backend, "epochs": epochs, "rounds": rounds,
                                     "median_steady_epoch_s": medians, "cases": cases}, indent=2))


def side_by_side(name: str, out: str, workdir: Path, rounds: int = 2) -> None:
    """The in-memory fast path against streaming on the same recipe, model and data, alternated ``rounds``
    times (so a busy machine weighs on both alike); the median steady epoch of each is compared."""
    import statistics

    from kerasforge.recipe import load_recipe

    runs: dict[str, list[dict]] = {"in_memory": [], "stream": []}
    for i in range(rounds):
        for stream in ((False, True) if i % 2 == 0 else (True, False)):
            recipe = load_recipe(name, ["train.epochs=2", f"data.stream={str(stream).lower()}",
                                        f"output.dir={workdir / 'runs'}"]).to_dict()
            runs["stream" if stream else "in_memory"].append(
                run_child(recipe, None, {**os.environ, "KFORGE_NO_TRACK": "1"}))
    print(f"{'path':>10} {'steady epoch s (each run)':>28} {'median':>7} {'test acc':>9} {'peak RSS MiB':>13}")
    summary = {}
    for path, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            print(f"{path:>10} {results[0]['error']}")
            continue
        steady = [r["timings"]["steady_epoch_s"] for r in ok]
        summary[path] = statistics.median(steady)
        print(f"{path:>10} {', '.join(f'{v:.2f}' for v in steady):>28} {summary[path]:>7.2f} "
              f"{ok[0]['metrics']['test_accuracy']:>9.4f} {max(r['peak_rss_mib'] for r in ok):>13.0f}")
    result: dict = {"runs": runs, "median_steady_epoch_s": summary}
    if len(summary) == 2:
        result["ratio_steady_epoch"] = summary["stream"] / summary["in_memory"]
        print(f"streaming / in memory, median steady epoch: {result['ratio_steady_epoch']:.2f}x")
    Path(out).write_text(json.dumps({"machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d"),
                                     "recipe": name, **result}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[10000])
    parser.add_argument("--limit", default="3G")
    parser.add_argument("--workdir", default="/tmp/kforge-data-scale")
    parser.add_argument("--json", default="benchmarks/data_scale.json")
    parser.add_argument("--generate-only", action="store_true", help="only write the JPEG folders")
    parser.add_argument("--rounds", type=int, default=3, help="with --side-by-side: alternations of the two paths "
                        "(with --scaling: repeats of the variants, 1 unless given)")
    parser.add_argument("--side-by-side", metavar="RECIPE", help="instead: RECIPE (e.g. fashion_mnist_cnn) for 2 "
                        "epochs with data.stream false, then true; compares the steady epoch times")
    parser.add_argument("--scaling", action="store_true", help="instead: pixels scaled in the model / per batch "
                        "vs expanded to float32 on the host (a functional CNN and a subclassed model)")
    parser.add_argument("--kinds", nargs="+", choices=["functional", "subclassed"], default=["functional", "subclassed"],
                        help="with --scaling: which models")
    parser.add_argument("--epochs", type=int, default=2, help="with --scaling: epochs per run (the steady epoch "
                        "is the median after the first)")
    args = parser.parse_args()
    if args.scaling:
        return scaling(args.json, Path(args.workdir), epochs=args.epochs, kinds=tuple(args.kinds),
                       rounds=args.rounds if "--rounds" in sys.argv else 1)
    if args.side_by_side:
        return side_by_side(args.side_by_side, args.json, Path(args.workdir), args.rounds)
    if args.generate_only:
        for n in args.images:
            print(f"{n} images generated in {generate(Path(args.workdir) / f'images-{n}', n):.0f} s")
        return
    from kerasforge.data.memory import parse_bytes

    limit = parse_bytes(args.limit)
    group = cgroup(limit)
    rows = []
    for n in args.images:
        folder = Path(args.workdir) / f"images-{n}"
        gen_s = generate(folder, n)
        cache = Path(args.workdir) / f"cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)  # the first run decodes, the second reuses
        env = {**os.environ, "KFORGE_CACHE_DIR": str(cache), "KFORGE_NO_TRACK": "1"}
        recipe = {"name": f"data_scale_{n}", "seed": 1,
                  "data": {"dataset": "image_folder", "path": str(folder), "image_size": [160, 160], "stream": True},
                  "model": {"layers": [
                      {"type": "Conv2D", "filters": 8, "kernel_size": 4, "strides": 4, "activation": "relu"},
                      {"type": "Conv2D", "filters": 16, "kernel_size": 3, "strides": 2, "activation": "relu"},
                      {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 4, "activation": "softmax"}]},
                  "train": {"epochs": 1, "batch_size": 64, "validation_split": 0.0,
                            "optimizer": {"type": "adam", "learning_rate": 0.01}},
                  "output": {"dir": str(Path(args.workdir) / "runs"), "formats": ["keras"]}}
        result = {"images": n, "generate_s": round(gen_s, 1), "cgroup_limit": limit if group else None}
        for attempt in ("first", "second"):  # the second run reuses the decoded cache
            out = run_child(recipe, group, env)
            result[attempt] = out
        rows.append(result)
        first, second = result["first"], result["second"]
        if "error" in first:
            print(f"{n}: {first['error']}")
            continue
        print(f"{'images':>8} {'peak RSS MiB':>13} {'test acc':>9} {'data 1st s':>11} {'data 2nd s':>11} "
              f"{'epoch s':>8} {'decode/s':>9}")
        decode = first["timings"]["data_s"]
        print(f"{n:>8} {first['peak_rss_mib']:>13.0f} {first['metrics']['test_accuracy']:>9.3f} {decode:>11.1f} "
              f"{second.get('timings', {}).get('data_s', float('nan')):>11.2f} "
              f"{first['timings'].get('fit_s', float('nan')):>8.1f} {n / decode:>9.0f}")
    Path(args.json).write_text(json.dumps({"machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d"),
                                           "rows": rows}, indent=2))
    if group is not None:
        group.rmdir()


if __name__ == "__main__":
    main()
