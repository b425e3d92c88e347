"""Start-up budget: import times of the entry points, and whole-process wall time of short runs beside
the tutorial's plain Keras script (issue 15).

    .venv/bin/python benchmarks/startup.py [--repeats 3] [--workloads fashion_mlp,fashion_cnn]
        [--skip-imports] [--cold] [--out benchmarks/results/startup.json]

* **Imports**: ``import kerasforge``, ``kerasforge.cli``, ``kerasforge.pipeline`` and Keras on JAX and on
  TensorFlow as kerasforge imports it (:func:`kerasforge.backend.configure_backend`), each in a fresh
  interpreter; the whole process of ``kforge --help`` and ``kforge check RECIPE`` (no data).
* **Short runs**, whole process, as a user sees them:
  ``kforge train fashion_mnist_mlp --set train.epochs=3`` (report and tracking on, the defaults) beside the
  plain script (``benchmarks/train_speed.py --child keras``: the tutorial's ``keras.Sequential`` /
  ``compile`` / ``fit(verbose=2)`` / ``evaluate``, Keras' default backend, the same arrays), and the
  1-epoch ``fashion_mnist_cnn`` beside its plain script. Runs alternate (plain, kforge, kforge, plain,
  ...) so that a busy machine slows both alike; medians and the ratio plain / kforge (> 1: kforge is
  faster) are printed. ``kforge train`` returns once the model and metrics are saved and a background
  process makes the report and the MLflow record: the table also shows when those were done
  (``report ready s``, from the start of the command), and the next run starts only after them.
  Each variant runs once first (not counted), so caches are warm as on a user's second run (JAX's
  compiled programs, the decoded dataset); ``--cold`` gives every run empty caches instead.

Prints a table and writes JSON (machine, load average, versions, command). Measured on a shared machine
the absolute figures move with the load; the ratios, measured side by side, stay meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, package_versions  # noqa: E402 - the benchmarks' shared machine description

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "startup.json"
KFORGE = [sys.executable, "-m", "kerasforge.cli"]
WORKLOADS = {"fashion_mlp": ("fashion_mnist_mlp", 3), "fashion_cnn": ("fashion_mnist_cnn", 1)}
IMPORTS = {
    "import kerasforge": "import kerasforge",
    "import kerasforge.cli": "import kerasforge.cli; kerasforge.cli._parser()",
    "import kerasforge.pipeline": "import kerasforge.pipeline",
    "keras on jax (kerasforge)": "from kerasforge.backend import configure_backend; configure_backend('jax')",
    "keras on tensorflow (kerasforge)": "from kerasforge.backend import configure_backend; "
                                        "configure_backend('tensorflow')",
    "keras on jax (plain import)": "import os; os.environ['KERAS_BACKEND']='jax'; import keras",
}


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"KFORGE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))})
    env.pop("KERAS_BACKEND", None)
    env.pop("KFORGE_NO_TRACK", None)
    env.pop("KFORGE_WAIT", None)
    shared = REPO.parent / "shared" / "data"
    if "KFORGE_DATA_DIR" not in env and shared.is_dir():
        env["KFORGE_DATA_DIR"] = str(shared)
    return env


def timed(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Wall and CPU (user + system) seconds of one process."""
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n==== {' '.join(cmd)}\n")
        handle.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}; see {log}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "started": start}


def import_times(repeats: int, env: dict[str, str], log: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for label, code in IMPORTS.items():
        probe = ("import time; t = time.perf_counter(); c = time.process_time(); "
                 f"{code}; print(time.perf_counter() - t, time.process_time() - c)")
        values, cpu = [], []
        for _ in range(repeats):
            done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
            wall, used = done.stdout.strip().splitlines()[-1].split()
            values.append(float(wall))
            cpu.append(float(used))
        out[label] = {"median_s": statistics.median(values), "cpu_median_s": statistics.median(cpu), "runs_s": values}
    for label, args in (("kforge --help", ["--help"]), ("kforge check fashion_mnist_mlp", ["check", "fashion_mnist_mlp"]),
                        ("kforge check fashion_mnist_cnn", ["check", "fashion_mnist_cnn"])):
        runs = [timed([*KFORGE, *args], env, log) for _ in range(repeats)]
        out[label] = {"median_s": statistics.median(r["wall_s"] for r in runs),
                      "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
                      "runs_s": [round(r["wall_s"], 3) for r in runs]}
    return out


def parts_done(run_dir: Path) -> bool:
    try:
        parts = json.loads((run_dir / "run.json").read_text()).get("parts", {})
    except (OSError, ValueError):
        return False
    return bool(parts) and "pending" not in parts.values()


def one_run(variant: str, workload: str, env: dict[str, str], work: Path, log: Path, cold: bool) -> dict[str, Any]:
    recipe, epochs = WORKLOADS[workload]
    run_env = dict(env)
    if cold:
        fresh = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
        run_env.update(KFORGE_CACHE_DIR=str(fresh), KFORGE_COMPILE_CACHE=str(fresh / "jax"))
    if variant == "plain":
        out = work / f"plain-{time.monotonic_ns()}.json"
        cmd = [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--child", "keras", "--workload", workload,
               "--epochs", str(epochs), "--threads", str(os.cpu_count() or 1), "--child-out", str(out)]
        result = timed(cmd, run_env, log)
        accuracy = json.loads(out.read_text()).get("test_accuracy")
        return {"wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "test_accuracy": accuracy}
    output = Path(tempfile.mkdtemp(dir=work, prefix="runs-"))
    result = timed([*KFORGE, "train", recipe, "--set", f"train.epochs={epochs}", "--output", str(output)], run_env, log)
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    deadline = time.monotonic() + 600
    while not parts_done(run_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    ready = time.perf_counter() - result["started"]
    info = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "report_ready_s": ready,
            "parts": info.get("parts"), "timings": info.get("timings"),
            "test_accuracy": metrics.get("test_accuracy")}


def short_runs(workloads: list[str], repeats: int, env: dict[str, str], work: Path, log: Path,
               cold: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for workload in workloads:
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "kforge": []}
        for variant in ("plain", "kforge"):  # warm-up, not counted
            one_run(variant, workload, env, work, log, cold)
        for i in range(repeats):
            order = ("plain", "kforge") if i % 2 == 0 else ("kforge", "plain")
            for variant in order:
                runs[variant].append(one_run(variant, workload, env, work, log, cold))
                print(f"  {workload} {variant}: {runs[variant][-1]['wall_s']:.2f} s", flush=True)
        plain = statistics.median(r["wall_s"] for r in runs["plain"])
        kforge = statistics.median(r["wall_s"] for r in runs["kforge"])
        pairs = [p["wall_s"] / k["wall_s"] for p, k in zip(runs["plain"], runs["kforge"], strict=True)]
        out[workload] = {
            "recipe": WORKLOADS[workload][0], "epochs": WORKLOADS[workload][1],
            "plain_median_s": round(plain, 3), "kforge_median_s": round(kforge, 3),
            "ratio_of_medians": round(plain / kforge, 3), "ratio_per_pair": [round(r, 3) for r in pairs],
            "report_ready_median_s": round(statistics.median(r["report_ready_s"] for r in runs["kforge"]), 3),
            "plain_cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs["plain"]), 3),
            "kforge_cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs["kforge"]), 3),
            "runs": runs}
    return out


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv),
            "machine": describe_machine(),
            "versions": package_versions("keras", "jax", "tensorflow-cpu", "tensorflow", "mlflow", "numpy"),
            "repeats": args.repeats, "cold": args.cold}


def table(result: dict[str, Any]) -> str:
    lines = []
    if result.get("imports"):
        lines += ["entry point                          median s   (cpu s)", "-" * 58]
        for label, r in result["imports"].items():
            cpu = f"   ({r['cpu_median_s']:.2f})" if "cpu_median_s" in r else ""
            lines.append(f"{label:<36} {r['median_s']:8.3f}{cpu}")
        lines.append("")
    if result.get("runs"):
        lines += ["workload      plain s  kforge s  ratio  per-pair ratios       report ready s  cpu plain/kforge s",
                  "-" * 100]
        for workload, r in result["runs"].items():
            pairs = ", ".join(f"{x:.2f}" for x in r["ratio_per_pair"])
            lines.append(f"{workload:<12} {r['plain_median_s']:8.2f} {r['kforge_median_s']:9.2f} "
                         f"{r['ratio_of_medians']:6.2f}  {pairs:<21} {r['report_ready_median_s']:14.2f}  "
                         f"{r['plain_cpu_median_s']:.1f} / {r['kforge_cpu_median_s']:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default="fashion_mlp,fashion_cnn")
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument("--skip-runs", action="store_true")
    parser.add_argument("--cold", action="store_true", help="empty data and compilation caches for every run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    env = base_env()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    log.write_text("", encoding="utf-8")
    result: dict[str, Any] = {"environment": environment(args)}
    with tempfile.TemporaryDirectory(prefix="kforge-startup-") as tmp:
        if not args.skip_imports:
            result["imports"] = import_times(args.repeats, env, log)
        if not args.skip_runs:
            result["runs"] = short_runs([w for w in args.workloads.split(",") if w], args.repeats, env, Path(tmp),
                                        log, args.cold)
    result["environment"]["machine"]["load_average_after"] = list(os.getloadavg())
    out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(table(result))
    print(f"\nwritten: {out}")
    return result


if __name__ == "__main__":
    main()
