"""Training speed: the tutorials' plain Keras script vs a plain PyTorch loop vs kerasforge, same data, same machine.

    .venv/bin/python benchmarks/train_speed.py [--workloads fashion_mlp,fashion_cnn,cifar10_cnn]
        [--epochs 10] [--subset N] [--variants keras,torch,kerasforge] [--threads 2] [--out PATH]

For each workload, each variant trains the same model (the built-in recipe's architecture, optimizer,
learning rate, batch size and epochs) on the same arrays: the recipe's data read through kerasforge's
loaders and split with its validation split and seed, so all three see identical train/validation/test
examples. Every variant validates once per epoch and is then evaluated on the test split.

* ``keras``: the tutorial script: ``model = keras.Sequential([...])``, ``model.compile(...)``,
  ``model.fit(x, y, batch_size=..., epochs=..., validation_data=...)`` (``verbose=2``: one line per
  epoch, which is lighter than the progress bar) on Keras' default backend here (TensorFlow on a CPU).
* ``torch``: a plain PyTorch loop of the same model: tensors in memory, a new permutation each epoch,
  ``for x, y in batches: zero_grad / forward / backward / step``, ``torch.optim.Adam`` with the same
  learning rate, validation under ``no_grad`` each epoch.
* ``kerasforge``: ``kerasforge.train(recipe)`` with the recipe's callbacks removed (so every variant runs
  all epochs), its fast path on (the default), no report, no tracking, on the backend kerasforge picks
  (on a CPU: JAX with scanned epochs for the MLP, TensorFlow for the CNNs), with an empty compilation cache.
* not in the default set, to see what each part of the fast path brings: ``kerasforge_fp32``
  (``train.precision=float32``), ``kerasforge_bf16`` (``train.precision=mixed_bfloat16``) and
  ``kerasforge_plain`` (``train.fast=false``, float32); ``kerasforge_jax`` / ``kerasforge_tf`` (the recipe on
  that backend); ``kerasforge_warm`` and ``kerasforge_jax_warm`` (the same as ``kerasforge`` / ``kerasforge_jax``
  after one identical run filled the compilation cache: a second run of a recipe on the same machine).

Each variant runs in its own child process, one after the other, so that TensorFlow and PyTorch never
compete for threads and peak RSS is per variant; every child gets the same thread count (``--threads``,
default: all cores) through ``OMP_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS`` and ``torch.set_num_threads``.

Prints a table (total fit s, compile s, steady epoch s, samples/s, test accuracy, peak RSS MB, RSS growth
from the 2nd to the last epoch, peak device memory on a GPU; the speed-up row compares kerasforge with the
faster of keras and torch) and writes ``benchmarks/results/train_speed.json`` with the machine,
date, versions and command. CIFAR-10 reads ``cifar10-jpeg.npz`` from ``$KFORGE_DATA_DIR`` (default here:
``../shared/data`` beside the repository); the workload is skipped with a message when it is missing.
To add a workload (``cifar10_speedrun``), add a :class:`Workload` to ``WORKLOADS`` with its Keras and
PyTorch model builders.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, package_versions  # noqa: E402 - the benchmarks' shared machine description

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "train_speed.json"
VARIANTS = ("keras", "torch", "kerasforge")


# ---------------------------------------------------------------------------------------------------
# the models, as the tutorials write them (Keras) and as a plain PyTorch script would (same layers)
# ---------------------------------------------------------------------------------------------------
def keras_mlp(input_shape: tuple, classes: int):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def keras_cnn(input_shape: tuple, classes: int, filters: tuple = (32, 64), dense: int = 128):
    import keras

    layers: list = [keras.Input(shape=input_shape)]
    for f in filters:
        layers += [keras.layers.Conv2D(f, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dense, activation="relu"), keras.layers.Dropout(0.5),
               keras.layers.Dense(classes, activation="softmax")]
    return keras.Sequential(layers)


def torch_mlp(input_shape: tuple, classes: int):
    from torch import nn

    n = 1
    for d in input_shape:
        n *= d
    return nn.Sequential(nn.Flatten(), nn.Linear(n, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 128),
                         nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, classes))


def torch_cnn(input_shape: tuple, classes: int, filters: tuple = (32, 64), dense: int = 128):
    from torch import nn

    h, w, c = input_shape
    layers: list = []
    for f in filters:
        layers += [nn.Conv2d(c, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = f, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, dense), nn.ReLU(), nn.Dropout(0.5), nn.Linear(dense, classes)]
    return nn.Sequential(*layers)


@dataclass
class Workload:
    """One benchmark workload: a built-in recipe and the same model written in plain Keras and PyTorch."""

    recipe: str
    keras_model: Callable[[tuple, int], Any]
    torch_model: Callable[[tuple, int], Any]
    epochs: int = 10
    batch_size: int | None = None  # None: the recipe's
    overrides: list[str] = field(default_factory=list)
    needs: str = ""  # a data file under $KFORGE_DATA_DIR, for the skip message


WORKLOADS: dict[str, Workload] = {
    "fashion_mlp": Workload("fashion_mnist_mlp", keras_mlp, torch_mlp, batch_size=128),
    "fashion_cnn": Workload("fashion_mnist_cnn", keras_cnn, torch_cnn, batch_size=128),
    "cifar10_cnn": Workload("cifar10_cnn", lambda s, k: keras_cnn(s, k, (32, 64, 128), 512),
                            lambda s, k: torch_cnn(s, k, (32, 64, 128), 512), needs="cifar10-jpeg.npz"),
}


# ---------------------------------------------------------------------------------------------------
# the child process: one variant of one workload
# ---------------------------------------------------------------------------------------------------
def rss_mb() -> float:
    """This process's resident memory now (MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_peak_mb() -> float | None:
    """Peak accelerator memory of this process (MB); ``None`` on a CPU-only run (then peak RSS is the figure)."""
    try:
        if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
            return sys.modules["torch"].cuda.max_memory_allocated() / 2**20
        if "jax" in sys.modules:
            stats = sys.modules["jax"].devices()[0].memory_stats() or {}
            return stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None
        if "tensorflow" in sys.modules and sys.modules["tensorflow"].config.list_logical_devices("GPU"):
            return sys.modules["tensorflow"].config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    except Exception:
        return None
    return None


def recipe_overrides(workload: Workload, epochs: int, subset: int | None) -> list[str]:
    items = [f"train.epochs={epochs}", "train.callbacks=[]", *workload.overrides]
    if workload.batch_size:
        items.append(f"train.batch_size={workload.batch_size}")
    if subset:
        items.append(f"data.subset={subset}")
    return items


def load_arrays(workload: Workload, epochs: int, subset: int | None) -> tuple[Any, dict]:
    """The recipe and its train/validation/test arrays, exactly as kerasforge's own run splits them."""
    from kerasforge.data import load_dataset, split_validation
    from kerasforge.recipe import load_recipe

    recipe = load_recipe(workload.recipe, recipe_overrides(workload, epochs, subset))
    ds = load_dataset(recipe.data, seed=recipe.seed)
    ds = split_validation(ds, recipe.train.validation_split, seed=recipe.seed, stratify=recipe.data.stratify)
    info = {"dataset": ds.name, "source": ds.source, "notes": ds.notes, "sizes": ds.sizes(),
            "input_shape": list(ds.input_shape), "classes": ds.num_classes}
    return recipe, {"ds": ds, "info": info}


def summarize(epoch_times: list[float], rss: list[float], n_train: int, total: float) -> dict[str, Any]:
    first = epoch_times[0]
    steady = statistics.median(epoch_times[1:]) if len(epoch_times) > 1 else first
    return {"total_s": round(total, 3), "compile_s": round(max(0.0, first - steady), 3),
            "steady_epoch_s": round(steady, 3), "samples_per_s": round(n_train / steady, 1),
            "epoch_times_s": [round(t, 3) for t in epoch_times],
            "rss_growth_mb": round(rss[-1] - rss[min(1, len(rss) - 1)], 1) if rss else None}


def run_keras(workload: Workload, epochs: int, subset: int | None) -> dict[str, Any]:
    import keras

    recipe, data = load_arrays(workload, epochs, subset)
    ds = data["ds"]
    keras.utils.set_random_seed(recipe.seed)
    times: list[float] = []
    rss: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)
            rss.append(rss_mb())

    lr = float(recipe.train.optimizer.kwargs.get("learning_rate", 1e-3))
    model = workload.keras_model(tuple(ds.input_shape), ds.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(ds.x_train, ds.y_train, batch_size=recipe.train.batch_size, epochs=epochs,
              validation_data=(ds.x_val, ds.y_val), callbacks=[Timer()], verbose=2)
    total = time.perf_counter() - start
    _, accuracy = model.evaluate(ds.x_test, ds.y_test, batch_size=recipe.train.batch_size, verbose=0)
    return {**summarize(times, rss, len(ds.x_train), total), "test_accuracy": round(float(accuracy), 4),
            "data": data["info"], "backend": keras.backend.backend()}


def run_torch(workload: Workload, epochs: int, subset: int | None) -> dict[str, Any]:
    import torch
    from torch import nn

    recipe, data = load_arrays(workload, epochs, subset)
    ds = data["ds"]
    torch.manual_seed(recipe.seed)

    # On a GPU the arrays live there from the start (as the reference loop has them), and each
    # epoch's time is taken after a synchronisation.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def tensors(x, y):
        return (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device),
                torch.from_numpy(y.astype("int64")).to(device))

    x_train, y_train = tensors(ds.x_train, ds.y_train)
    x_val, y_val = tensors(ds.x_val, ds.y_val)
    x_test, y_test = tensors(ds.x_test, ds.y_test)
    model = workload.torch_model(tuple(ds.input_shape), ds.num_classes).to(device)
    lr = float(recipe.train.optimizer.kwargs.get("learning_rate", 1e-3))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    batch = recipe.train.batch_size

    def accuracy(x, y) -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
        return correct / len(x)

    times: list[float] = []
    rss: list[float] = []
    start = time.perf_counter()
    for epoch in range(epochs):
        began = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), device=device)
        for i in range(0, len(x_train), batch):
            idx = order[i:i + batch]
            xb, yb = x_train[idx], y_train[idx]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        val = accuracy(x_val, y_val)  # .item() inside waits for the GPU
        times.append(time.perf_counter() - began)
        rss.append(rss_mb())
        print(f"epoch {epoch + 1}/{epochs} - {times[-1]:.2f}s - loss {loss.item():.4f} - val_accuracy {val:.4f}",
              flush=True)
    total = time.perf_counter() - start
    return {**summarize(times, rss, len(x_train), total), "test_accuracy": round(accuracy(x_test, y_test), 4),
            "data": data["info"], "backend": "torch", "device": str(device)}


def run_kerasforge(workload: Workload, epochs: int, subset: int | None, extra: list[str] | None = None
                   ) -> dict[str, Any]:
    import kerasforge
    from kerasforge.backend import configure_backend, dense_only
    from kerasforge.recipe import load_recipe

    backend = next((item.split("=", 1)[1] for item in extra or [] if item.startswith("backend=")), "auto")
    # before Keras is imported below, with the same choice kerasforge.train makes for this recipe
    configure_backend(backend, dense=dense_only(load_recipe(workload.recipe).model))
    rss: list[float] = []
    import keras

    class RssProbe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rss.append(rss_mb())

    with tempfile.TemporaryDirectory(prefix="kforge-bench-") as tmp:
        run = kerasforge.train(workload.recipe, overrides=recipe_overrides(workload, epochs, subset) + (extra or []),
                               output_dir=tmp, show_summary=False, report=False, track=False,
                               callbacks=[RssProbe()])
    times = [float(t) for t in run.history.get("epoch_time_s", [])]
    timings = run.info.get("timings", {})
    sizes = run.data_info["sizes"]
    return {**summarize(times, rss, sizes["train"], float(timings.get("fit_s", sum(times)))),
            "test_accuracy": round(float(run.metrics["test_accuracy"]), 4),
            "fast_path": run.info.get("fast_path"), "backend": keras.backend.backend(),
            "data": {"dataset": run.data_info["dataset"], "source": run.data_info["source"],
                     "notes": run.data_info["notes"], "sizes": sizes}}


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "keras": run_keras,
    "torch": run_torch,
    "kerasforge": run_kerasforge,
    "kerasforge_fp32": lambda w, e, s: run_kerasforge(w, e, s, ["train.precision=float32"]),
    "kerasforge_bf16": lambda w, e, s: run_kerasforge(w, e, s, ["train.precision=mixed_bfloat16"]),
    "kerasforge_plain": lambda w, e, s: run_kerasforge(w, e, s, ["train.fast=false", "train.precision=float32"]),
    "kerasforge_jax": lambda w, e, s: run_kerasforge(w, e, s, ["backend=jax"]),
    "kerasforge_jax_warm": lambda w, e, s: run_kerasforge(w, e, s, ["backend=jax"]),
    "kerasforge_tf": lambda w, e, s: run_kerasforge(w, e, s, ["backend=tensorflow"]),
    "kerasforge_warm": run_kerasforge,  # the default choice with the compilation cache warm (JAX)
}
# Variants measured with a warm persistent compilation cache: the same child runs once before (discarded).
WARM_SUFFIX = "_warm"


def child(args: argparse.Namespace) -> None:
    """Run one variant of one workload and write its result as JSON to ``args.child_out``."""
    if args.child == "torch":  # Keras' children get theirs from TF_NUM_INTRAOP_THREADS/OMP_NUM_THREADS
        import torch

        torch.set_num_threads(args.threads)
    workload = WORKLOADS[args.workload]
    try:
        result = RUNNERS[args.child](workload, args.epochs, args.subset)
    except Exception as exc:
        from kerasforge.data import DatasetNotFoundError

        if not isinstance(exc, DatasetNotFoundError):
            raise
        result = {"skipped": f"{type(exc).__name__}: {exc}"}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["device_peak_mb"] = device_peak_mb()
    Path(args.child_out).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# the parent: every variant of every workload, then the table and the JSON
# ---------------------------------------------------------------------------------------------------
def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2", "KFORGE_OFFLINE": "1",
                "KFORGE_NO_TRACK": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                                                   env.get("PYTHONPATH")]))})
    shared = REPO.parent / "shared" / "data"
    if "KFORGE_DATA_DIR" not in env and shared.is_dir():
        env["KFORGE_DATA_DIR"] = str(shared)
    return env


def run_variant(workload: str, variant: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    """One child process per variant, with its own empty compilation cache (a cold start); a ``_warm``
    variant runs its child twice with the same cache and keeps the second run."""
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--workload", workload,
               "--epochs", str(args.epochs), "--threads", str(args.threads), "--child-out", str(out)]
        if args.subset:
            cmd += ["--subset", str(args.subset)]
        env = {**child_env(args.threads), "KFORGE_COMPILE_CACHE": str(Path(tmp) / "compile-cache")}
        with log.open("a", encoding="utf-8") as handle:
            for attempt in ("warm-up", "measured") if variant.endswith(WARM_SUFFIX) else ("measured",):
                handle.write(f"\n==== {workload} / {variant} ({attempt}): {' '.join(cmd)}\n")
                handle.flush()
                start = time.perf_counter()
                proc = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not out.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            return {"error": f"exit code {proc.returncode}", "log_tail": tail, "process_s": round(wall, 1)}
        result = json.loads(out.read_text(encoding="utf-8"))
        result["process_s"] = round(wall, 1)
        return result


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": args.command,
            "machine": describe_machine(gpu=Path("/dev/nvidiactl").exists()),
            "versions": package_versions("keras", "tensorflow", "tensorflow-cpu", "torch", "jax", "numpy", "kerasforge"),
            "threads": args.threads, "epochs": args.epochs, "subset": args.subset}


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ("workload", "variant", "total s", "compile s", "steady epoch s", "samples/s", "test acc",
            "peak RSS MB", "RSS growth MB", "device peak MB")
    rows = [head]
    for workload, variants in results.items():
        for variant, r in variants.items():
            if "skipped" in r or "error" in r:
                rows.append((workload, variant, r.get("skipped") or r.get("error"), *[""] * 7))
                continue
            rows.append((workload, variant, f"{r['total_s']:.2f}", f"{r['compile_s']:.2f}",
                         f"{r['steady_epoch_s']:.3f}", f"{r['samples_per_s']:.0f}", f"{r['test_accuracy']:.4f}",
                         f"{r['peak_rss_mb']:.0f}", f"{r['rss_growth_mb']:+.1f}",
                         "-" if r.get("device_peak_mb") is None else f"{r['device_peak_mb']:.0f}"))
        fastest = [r for v, r in variants.items() if v in ("keras", "torch") and "total_s" in r]
        ours = variants.get("kerasforge", {})
        if fastest and "total_s" in ours:
            best = min(fastest, key=lambda r: r["total_s"])
            rows.append((workload, "speed-up", f"{best['total_s'] / ours['total_s']:.2f}x", "",
                         f"{best['steady_epoch_s'] / ours['steady_epoch_s']:.2f}x", "", "", "", "", ""))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it writes to the JSON file.

    >>> main(["--workloads", "fashion_mlp", "--epochs", "1", "--subset", "500", "--out", "/tmp/t.json"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="fashion_mlp,fashion_cnn,cifar10_cnn",
                        help=f"comma-separated, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(RUNNERS)}")
    parser.add_argument("--epochs", type=int, default=None, help="default: each workload's (10)")
    parser.add_argument("--subset", type=int, default=None, help="examples per split (CI smoke)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--log", default=None, help="children's output (default: next to --out, .log)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.command = " ".join(["python", "benchmarks/train_speed.py", *(sys.argv[1:] if argv is None else argv)])
    if args.child:
        args.epochs = args.epochs or WORKLOADS[args.workload].epochs
        child(args)
        return {}

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for name, known in ((w, WORKLOADS) for w in workloads):
        if name not in known:
            parser.error(f"unknown workload {name!r} (known: {', '.join(WORKLOADS)})")
    for name in variants:
        if name not in RUNNERS:
            parser.error(f"unknown variant {name!r} (known: {', '.join(RUNNERS)})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = Path(args.log) if args.log else out.with_suffix(".log")
    log.write_text("", encoding="utf-8")
    report: dict[str, Any] = {**environment(args), "results": {}}
    for workload in workloads:
        spec = WORKLOADS[workload]
        data_dir = child_env(args.threads).get("KFORGE_DATA_DIR")
        if spec.needs and not (data_dir and (Path(data_dir) / spec.needs).is_file()):
            print(f"skipping {workload}: {spec.needs} not found (set KFORGE_DATA_DIR to the folder that holds it)")
            report["results"][workload] = {v: {"skipped": f"{spec.needs} not found"} for v in variants}
            continue
        epochs = args.epochs or spec.epochs
        report["results"][workload] = {}
        for variant in variants:
            print(f"{workload} / {variant}: {epochs} epochs{f', subset {args.subset}' if args.subset else ''} ...",
                  flush=True)
            result = run_variant(workload, variant, argparse.Namespace(**{**vars(args), "epochs": epochs}), log)
            report["results"][workload][variant] = result
            shown = result.get("skipped") or result.get("error") or (
                f"{result['total_s']:.1f}s, steady epoch {result['steady_epoch_s']:.2f}s, "
                f"test accuracy {result['test_accuracy']:.4f}")
            print(f"  {shown}", flush=True)
    report["load_average_after"] = list(os.getloadavg())
    report["table"] = table(report["results"])
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print()
    print(report["table"])
    print(f"\nwritten: {out} (children's output: {log})")
    return report


if __name__ == "__main__":
    main()
