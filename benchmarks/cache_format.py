"""The decoded cache's store: one memory-mapped ``.npy`` per split vs ArrayRecord shards, side by side.

Writes N generated 160x160x3 ``uint8`` images (a noisy dominant colour, 4 classes; no JPEG decoding:
this measures the store, not the decoder) as

- ``npy``: one ``.npy`` per split, written through a memory map as ``kerasforge.data.cache`` writes it;
- ``arecord``: ArrayRecord shards (``--shard-images`` images each), one record = one image's raw bytes,
  ``group_size:1,uncompressed`` (the random-access layout Grain asks for);
- ``arecord_k4``: ArrayRecord shards with ``--per-record`` images in each record (fewer, larger records);

and reads each through the same Grain pipeline as ``kerasforge.data.stream`` (``EpochBatches`` -> Grain
``MapDataset.source(...).to_iter_dataset(ReadOptions(num_threads=4, prefetch_buffer_size=8))``): only the
rows object differs (``pread`` from the ``.npy`` vs ``ArrayRecordDataSource.__getitems__``).
``arecord_grain`` reads the ``arecord`` shards the way Grain's own examples do (a per-record source,
``shuffle``, ``map``, ``batch``). Measured per format: build time (writes + ``fsync``) and bytes on disk;
images/s of a full epoch of random-permutation batches of ``--batch`` (training) and of in-order batches
(evaluation), warm (page cache hot) and cold (``sync; echo 3 > /proc/sys/vm/drop_caches``, root
needed); peak RSS of the reading process (``VmHWM``, reset before each pass); and two cold random epochs
inside a cgroup-v1 memory group smaller than the data (``--limit``; the image benchmark's runner), with
the group's peak usage. Every read pass sums its pixels and labels, so the formats are checked to return
the same data. The formats alternate over ``--rounds`` rounds (order reversed every other round), so a
busy machine weighs on all alike; the table gives the median per format.

Example:
    python benchmarks/cache_format.py --images 20000 --rounds 3 --json benchmarks/results/cache_format.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data_scale import cgroup, run_child  # noqa: E402 - the image benchmark's cgroup-v1 group and child runner
from machine import describe_machine, package_versions  # noqa: E402

COLOURS = np.array([(200, 40, 40), (40, 190, 40), (40, 40, 200), (210, 200, 40)], np.int16)
BUILDS = ("npy", "arecord", "arecord_k4")
VARIANTS = ("npy", "arecord", "arecord_k4", "arecord_grain")
MODES = ("random_warm", "random_cold", "sequential_warm", "sequential_cold")
CHILD = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from cache_format import child_main
child_main(sys.argv[1])
"""


# ------------------------------------------------------------------------------------------------
# data and builds
# ------------------------------------------------------------------------------------------------
def images(n: int, size: int, chunk: int = 512):
    """``(start, x, y)`` chunks of N learnable-looking images: the class's colour plus coarse noise
    (``size // 8`` cells) plus fine per-pixel noise, deterministic per chunk."""
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        rng = np.random.default_rng(start)
        y = (np.arange(start, start + count) % len(COLOURS)).astype(np.int64)
        cells = size // 8
        coarse = COLOURS[y][:, None, None, :] + rng.integers(-60, 61, (count, cells, cells, 3), dtype=np.int16)
        x = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
        x += rng.integers(-8, 9, x.shape, dtype=np.int16)
        yield start, np.clip(x, 0, 255).astype(np.uint8), y


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build(kind: str, folder: Path, n: int, size: int, shard_images: int, per_record: int) -> dict[str, Any]:
    """Write the N images as ``kind`` into the empty ``folder``; the seconds count the writes and the
    final flush/``fsync`` only (not generating the images)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = 0.0
    labels = np.empty(n, np.int64)
    if kind == "npy":
        path = folder / "x_train.npy"
        t = time.perf_counter()
        out = np.lib.format.open_memmap(path, "w+", np.uint8, (n, size, size, 3))
        seconds += time.perf_counter() - t
        for start, x, y in images(n, size):
            t = time.perf_counter()
            out[start:start + len(x)] = x
            seconds += time.perf_counter() - t
            labels[start:start + len(y)] = y
        t = time.perf_counter()
        out.flush()
        del out
        _fsync(path)
        seconds += time.perf_counter() - t
        extra = {}
    else:
        from array_record.python.array_record_module import ArrayRecordWriter

        k = per_record if kind == "arecord_k4" else 1
        writer, shard, written = None, 0, 0
        for start, x, y in images(n, size):
            labels[start:start + len(y)] = y
            t = time.perf_counter()
            for i in range(0, len(x), k):
                if writer is None or written == shard_images:
                    if writer is not None:
                        writer.close()
                    writer = ArrayRecordWriter(str(folder / f"x_train-{shard:05d}.arecord"), "group_size:1,uncompressed")
                    shard, written = shard + 1, 0
                writer.write(x[i:i + k].tobytes())
                written += len(x[i:i + k])
            seconds += time.perf_counter() - t
        t = time.perf_counter()
        writer.close()
        for file in folder.glob("*.arecord"):
            _fsync(file)
        seconds += time.perf_counter() - t
        extra = {"shards": shard, "images_per_record": k}
    np.save(folder / "y_train.npy", labels)
    files = {f.name: f.stat().st_size for f in folder.iterdir()}
    data_bytes = sum(v for name, v in files.items() if name.startswith("x_"))
    return {"kind": kind, "seconds": round(seconds, 3), "mb_per_s": round(data_bytes / 1e6 / max(seconds, 1e-9), 1),
            "bytes": data_bytes, "overhead_bytes": data_bytes - n * size * size * 3, **extra}


# ------------------------------------------------------------------------------------------------
# the reading side (runs in a child process)
# ------------------------------------------------------------------------------------------------
class ArrayRecordRows:
    """Rows ``index`` of images stored in ArrayRecord shards (``per_record`` images a record), read with
    Grain's ``ArrayRecordDataSource.__getitems__``: what ``RowReader`` does with ``pread`` for a ``.npy``."""

    def __init__(self, paths: list[str], n: int, shape: tuple[int, ...], per_record: int = 1) -> None:
        from grain.python import ArrayRecordDataSource

        self.source = ArrayRecordDataSource(paths)
        self.n, self.shape, self.k = n, shape, per_record

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, np.int64)
        out = np.empty((len(index), *self.shape), np.uint8)
        flat = out.reshape(len(index), -1)
        if self.k == 1:
            for j, record in enumerate(self.source.__getitems__(index.tolist())):
                flat[j] = np.frombuffer(record, np.uint8)
            return out
        ids, inverse = np.unique(index // self.k, return_inverse=True)
        records = [np.frombuffer(r, np.uint8).reshape(-1, flat.shape[1])
                   for r in self.source.__getitems__(ids.tolist())]
        for j, (r, within) in enumerate(zip(inverse, index % self.k, strict=True)):
            flat[j] = records[r][within]
        return out


def _dataset(variant: str, folder: Path, n: int, size: int, batch: int, shuffle: bool, seed: int,
             per_record: int, threads: int, prefetch: int):
    import grain
    import grain.python

    from kerasforge.data.stream import EpochBatches, grain_dataset

    y = np.load(folder / "y_train.npy")
    shape = (size, size, 3)
    if variant == "npy":
        x = np.load(folder / "x_train.npy", mmap_mode="r")
        return grain_dataset(EpochBatches(x, y, batch, seed=seed, shuffle=shuffle), threads=threads, prefetch=prefetch)
    paths = [str(p) for p in sorted(folder.glob("*.arecord"))]
    if variant in ("arecord", "arecord_k4"):
        rows = ArrayRecordRows(paths, n, shape, per_record if variant == "arecord_k4" else 1)
        return grain_dataset(EpochBatches(rows, y, batch, seed=seed, shuffle=shuffle), threads=threads,
                             prefetch=prefetch)
    source = grain.python.ArrayRecordDataSource(paths)  # arecord_grain: Grain's per-record pipeline
    ds = grain.MapDataset.range(n)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    ds = ds.map(lambda i: (np.frombuffer(source[int(i)], np.uint8).reshape(shape), y[int(i)])).batch(batch)
    return ds.to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def drop_caches() -> bool:
    """Empty the page cache (root only); False when not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
        return True
    except OSError:
        return False


def _warm(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as fh:
            while fh.read(8 << 20):
                pass


def read_pass(variant: str, folder: Path, p: dict[str, Any], shuffle: bool, epoch: int = 0) -> dict[str, Any]:
    """One epoch of batches; images/s, peak RSS of the pass, and sums that identify the data read."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the peak of this pass alone
    rss_before = _status_kib("VmRSS")
    ds = _dataset(variant, folder, p["n"], p["size"], p["batch"], shuffle, p["seed"] + epoch, p["per_record"],
                  p["threads"], p["prefetch"])
    t = time.perf_counter()
    count, pixels, labels, first = 0, 0, 0, None
    for x, y in ds:
        count += len(y)
        pixels += int(x[:, ::16, ::16].sum(dtype=np.int64))
        labels += int(np.asarray(y).sum())
        if first is None:
            first = int(y[0])
    seconds = time.perf_counter() - t
    return {"images": count, "seconds": round(seconds, 3), "images_per_s": round(count / max(seconds, 1e-9), 1),
            "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1), "rss_before_mib": round(rss_before / 1024, 1),
            "pixel_sum": pixels, "label_sum": labels}


def child_main(arg: str) -> None:
    """The reading process: ``arg`` is JSON with the variant, folder, sizes and the passes to run."""
    import grain.python  # noqa: F401 - imported before the first pass, so its peak RSS counts reading alone

    import kerasforge.data.stream  # noqa: F401

    p = json.loads(arg)
    folder = Path(p["folder"])
    result: dict[str, Any] = {}
    for mode in p["modes"]:
        if mode.endswith("_cold") or mode == "random_cgroup":
            if not drop_caches():
                result[mode] = {"skipped": "the page cache cannot be dropped (root needed)"}
                continue
        else:
            _warm(folder)
        if mode == "random_cgroup":
            result[mode] = [read_pass(p["variant"], folder, p, True, epoch) for epoch in range(2)]
        else:
            result[mode] = read_pass(p["variant"], folder, p, mode.startswith("random"))
    import resource

    result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT" + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------
def environment(argv: list[str]) -> dict[str, Any]:
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(["python", *argv]),
            "machine": describe_machine(note="shared machine (other sessions building and testing at once)"),
            "versions": package_versions("numpy", "grain", "array-record", "kerasforge")}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _rate(read: dict[str, Any], mode: str) -> float | None:
    got = read.get(mode)
    if isinstance(got, list):  # the cgroup's two epochs: the second is the steady state
        got = got[-1] if got else None
    return got.get("images_per_s") if isinstance(got, dict) else None


def summarise(rounds: list[dict[str, Any]], variants: list[str]) -> dict[str, dict[str, Any]]:
    """Median over rounds of each figure, per variant, and of each round's rate relative to ``npy`` in the
    same round (``<mode>_vs_npy``: the fairer figure on a busy machine)."""
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        row: dict[str, Any] = {}
        builds = [r["builds"][v] for r in rounds if v in r.get("builds", {})]
        if builds:
            row["build_s"] = _median([b["seconds"] for b in builds])
            row["bytes"] = builds[0]["bytes"]
        reads = [r["reads"][v] for r in rounds if v in r.get("reads", {})]
        for mode in (*MODES, "random_cgroup"):
            passes = [rd[mode] for rd in reads if isinstance(rd.get(mode), dict | list)]
            if mode == "random_cgroup":
                passes = [pp[-1] for pp in passes if isinstance(pp, list)]  # the second epoch: steady state
            passes = [pp for pp in passes if "images_per_s" in pp]
            if passes:
                row[f"{mode}_per_s"] = _median([pp["images_per_s"] for pp in passes])
                row[f"{mode}_peak_rss_mib"] = max(pp["peak_rss_mib"] for pp in passes)
        if v != "npy":
            builds_vs = [r["builds"][v]["seconds"] / r["builds"]["npy"]["seconds"] for r in rounds
                         if v in r.get("builds", {}) and "npy" in r.get("builds", {})]
            if builds_vs:
                row["build_s_vs_npy"] = round(statistics.median(builds_vs), 2)
            for mode in (*MODES, "random_cgroup"):
                ratios = [a / b for r in rounds if v in r.get("reads", {}) and "npy" in r.get("reads", {})
                          for a, b in [(_rate(r["reads"][v], mode), _rate(r["reads"]["npy"], mode))] if a and b]
                if ratios:
                    row[f"{mode}_vs_npy"] = round(statistics.median(ratios), 2)
        usage = [rd["cgroup_max_usage_mib"] for rd in reads if "cgroup_max_usage_mib" in rd]
        if usage:
            row["cgroup_max_usage_mib"] = max(usage)
        out[v] = row
    return out


def table(summary: dict[str, dict[str, Any]], n: int, limit_mib: float | None) -> str:
    head = ("format", "build s", "MB on disk", "random warm/s", "random cold/s", "seq warm/s", "seq cold/s",
            "peak RSS MiB", f"cgroup {limit_mib:.0f} MiB/s" if limit_mib else "cgroup/s")
    rows = [head]
    for v, r in summary.items():
        def f(key: str, r: dict = r) -> str:
            return "-" if r.get(key) is None else f"{r[key]:,.0f}"
        peak = max((r[k] for k in r if k.endswith("peak_rss_mib") and "cgroup" not in k), default=None)
        rows.append((v, f"{r['build_s']:.1f}" if "build_s" in r else "-",
                     f"{r['bytes'] / 1e6:,.0f}" if "bytes" in r else "-", f("random_warm_per_s"),
                     f("random_cold_per_s"), f("sequential_warm_per_s"), f("sequential_cold_per_s"),
                     "-" if peak is None else f"{peak:,.0f}", f("random_cgroup_per_s")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    out = [f"{n:,} images of 160x160x3 uint8, shared machine; images/s medians over rounds", *lines]
    ratio_modes = [(m, label) for m, label in (("build_s", "build time"), ("random_warm", "random warm"), ("random_cold", "random cold"),
                                               ("sequential_warm", "seq warm"), ("sequential_cold", "seq cold"),
                                               ("random_cgroup", "cgroup"))]
    ratio_rows = [(v, *(f"{r[f'{m}_vs_npy']:.2f}x" if f"{m}_vs_npy" in r else "-" for m, _ in ratio_modes))
                  for v, r in summary.items() if v != "npy" and any(k.endswith("_vs_npy") for k in r)]
    if ratio_rows:
        head2 = ("format", *(label for _, label in ratio_modes))
        w2 = [max(len(row[i]) for row in [head2, *ratio_rows]) for i in range(len(head2))]
        out += ["", "relative to npy in the same round (median of the rounds' ratios; rates > 1 and build time < 1: better than npy)",
                *("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, w2, strict=True)))
                  for row in [head2, *ratio_rows])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shard-images", type=int, default=4096, help="images per ArrayRecord shard")
    parser.add_argument("--per-record", type=int, default=4, help="images per record of arecord_k4")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=8)
    parser.add_argument("--limit", default="512M", help="the memory cgroup's limit (smaller than the data)")
    parser.add_argument("--no-cold", action="store_true", help="skip the passes that drop the page cache")
    parser.add_argument("--no-cgroup", action="store_true", help="skip the passes inside a memory cgroup")
    parser.add_argument("--workdir", default="/tmp/kforge-cache-format")
    parser.add_argument("--json", default=str(HERE / "results" / "cache_format.json"))
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    work = Path(args.workdir)
    src = str(HERE.parent / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    from kerasforge.data.memory import parse_bytes

    limit = parse_bytes(args.limit)
    group = None if args.no_cgroup else cgroup(limit)
    modes = [m for m in MODES if not (args.no_cold and m.endswith("_cold"))]
    report: dict[str, Any] = {**environment([sys.argv[0] if argv is sys.argv[1:] else "benchmarks/cache_format.py",
                                             *argv]),
                              "images": args.images, "image_shape": [args.size, args.size, 3], "batch": args.batch,
                              "threads": args.threads, "prefetch": args.prefetch, "shard_images": args.shard_images,
                              "per_record": args.per_record, "cgroup_limit": limit if group else None, "rounds": []}
    params = {"n": args.images, "size": args.size, "batch": args.batch, "seed": 1, "per_record": args.per_record,
              "threads": args.threads, "prefetch": args.prefetch}
    try:
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            rnd: dict[str, Any] = {"order": order, "builds": {}, "reads": {}}
            for v in order:
                kind = "arecord" if v == "arecord_grain" else v
                folder = work / kind
                if kind not in rnd["builds"]:
                    rnd["builds"][kind] = build(kind, folder, args.images, args.size, args.shard_images,
                                                args.per_record)
                read = run_child({**params, "variant": v, "folder": str(folder), "modes": modes}, None, env,
                                 child=CHILD)
                if group is not None:
                    (group / "memory.max_usage_in_bytes").write_text("0")
                    inside = run_child({**params, "variant": v, "folder": str(folder), "modes": ["random_cgroup"]},
                                       group, env, child=CHILD)
                    read["random_cgroup"] = inside.get("random_cgroup", inside)
                    read["cgroup_max_usage_mib"] = int((group / "memory.max_usage_in_bytes").read_text()) / (1 << 20)
                rnd["reads"][v] = read
            report["rounds"].append(rnd)
    finally:
        if group is not None:
            group.rmdir()
        shutil.rmtree(work, ignore_errors=True)
    report["summary"] = summarise(report["rounds"], variants)
    report["table"] = table(report["summary"], args.images, limit / (1 << 20) if group else None)
    print(report["table"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
