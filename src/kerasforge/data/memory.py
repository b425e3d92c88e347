"""Memory pre-flight: estimate a run's peak against the memory actually available, and choose the path.

Available memory is the tightest of: ``$KFORGE_MEMORY_BUDGET`` (e.g. ``2G``, ``500M``; to plan for a
smaller machine or to test), this process's cgroup limit less what the cgroup already uses (v2
``memory.max``/``memory.current``, v1 ``memory.limit_in_bytes``/``memory.usage_in_bytes`` less page cache),
and ``MemAvailable``. The peak is estimated per path: in memory = the data resident (when it is still on
disk) + the backend's copy of the training and validation arrays + model, gradients and optimizer slots +
one batch of activations; streaming = the same without the data, plus the prefetched batches.

Example:
    >>> os.environ["KFORGE_MEMORY_BUDGET"] = "1G"; available_memory()[0]
    1073741824
    >>> del os.environ["KFORGE_MEMORY_BUDGET"]
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

IN_MEMORY_SHARE = 0.6  # `stream: auto` keeps the data in memory when its peak fits this share
PREFETCH = 8  # batches in flight in the streaming pipeline
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5g"``, ``"1000000"`` -> bytes.

    >>> parse_bytes("512M"), parse_bytes("1.5G")
    (536870912, 1610612736)
    """
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgtKMGT]?)(i?[bB])?\s*", text)
    if not match:
        raise DataError(f"'{text}' is not a size", where="$KFORGE_MEMORY_BUDGET",
                        fix="Write bytes or a size with a unit, such as 3G or 512M.")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _stat_value(text: str | None, key: str) -> int:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def cgroup_limit() -> tuple[int, str] | None:
    """``(bytes still available under this process's cgroup limit, where from)``, or ``None`` without a limit."""
    text = _read(Path("/proc/self/cgroup")) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / rel.lstrip("/")
            limit = _read(base / "memory.max")
            if limit and limit != "max" and limit.isdigit():
                used = int(_read(base / "memory.current") or 0)
                cache = _stat_value(_read(base / "memory.stat"), "file")
                return int(limit) - max(used - cache, 0), f"cgroup v2 memory.max {int(limit)} at {base}"
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
            limit = _read(base / "memory.limit_in_bytes")
            if limit and limit.isdigit() and int(limit) < (1 << 60):
                used = int(_read(base / "memory.usage_in_bytes") or 0)
                cache = _stat_value(_read(base / "memory.stat"), "total_cache")
                return int(limit) - max(used - cache, 0), f"cgroup v1 memory.limit_in_bytes {int(limit)} at {base}"
    return None


def mem_available() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes."""
    kb = _stat_value((_read(Path("/proc/meminfo")) or "").replace(":", ""), "MemAvailable")
    if not kb:
        match = re.search(r"MemAvailable:\s+(\d+)", _read(Path("/proc/meminfo")) or "")
        kb = int(match.group(1)) if match else 0
    return kb * 1024 or None


def available_memory() -> tuple[int, str]:
    """``(bytes, where the figure comes from)``: the tightest of the budget, the cgroup and MemAvailable."""
    budget = os.environ.get("KFORGE_MEMORY_BUDGET", "").strip()
    if budget:
        return parse_bytes(budget), "$KFORGE_MEMORY_BUDGET"
    options = []
    cg = cgroup_limit()
    if cg:
        options.append(cg)
    avail = mem_available()
    if avail:
        options.append((avail, "MemAvailable"))
    if not options:  # pragma: no cover - not Linux
        return 1 << 40, "unknown (no cgroup limit or /proc/meminfo)"
    return min(options)


def gib(n: float) -> str:
    """Bytes in words: ``gib(3 << 30) == '3.00 GiB'``; MiB below 1 GiB."""
    return f"{n / (1 << 30):.2f} GiB" if abs(n) >= (1 << 30) else f"{n / (1 << 20):.0f} MiB"


def _nbytes(x: Any) -> int:
    if x is None:
        return 0
    if isinstance(x, dict):
        return sum(_nbytes(v) for v in x.values())
    if isinstance(x, np.ndarray) and x.dtype.kind == "O":
        return int(sum(len(str(v)) for v in x[:1000]) / max(min(len(x), 1000), 1) * len(x)) + x.nbytes
    return int(getattr(x, "nbytes", 0))


def _on_disk(x: Any) -> bool:
    """Memory-mapped arrays and texts in the decoded cache (``CachedTexts.on_disk``; their ``nbytes`` is
    the strings' memory once read); rows scaled per batch count as their raw array."""
    x = getattr(x, "raw", x)  # rows scaled per batch (kerasforge.data.host_scaling): their raw array
    return (isinstance(x, np.memmap) or (isinstance(x, np.ndarray) and isinstance(x.base, np.memmap))
            or getattr(x, "on_disk", False) is True)


def activation_bytes(model: Any, batch_size: int) -> int:
    """Forward activations of one batch, kept for the backward pass (float32, all layers' outputs)."""
    total = 0
    for layer in getattr(model, "layers", []):
        try:
            outputs = layer.output if isinstance(layer.output, list | tuple) else [layer.output]
            total += sum(math.prod(d or 1 for d in o.shape[1:]) for o in outputs)
        except (AttributeError, ValueError, TypeError):
            continue
    return total * 4 * batch_size * 2


@dataclass
class DataPlan:
    """Which path the data takes (``stream``), why, and the figures behind it (recorded in run.json)."""

    stream: bool
    reason: str
    setting: str
    available_bytes: int
    available_from: str
    data_bytes: int
    in_memory_peak: int
    streaming_peak: int
    details: dict[str, int] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)  # (process, processes): streamed, each reads its 1/N of every epoch
    shard_multiple: int = 1  # the process's devices: its rows per epoch are a multiple of them
    scaling: str = ""  # where raw pixels become the training scale: "in the model", "per batch on the host"...
    feed: str = ""  # host-scaled data that fits stays in memory: "tf.data" (TensorFlow), "chunks" (JAX, PyTorch)

    def describe(self) -> str:
        """One line for the console."""
        source = "the decoded cache" if self.details.get("resident_data") else "arrays in memory"
        path = f"streaming from {source}" if self.stream else "in memory"
        if self.feed:
            path = {"tf.data": "in memory as raw values, each training batch gathered by tf.data"}.get(
                self.feed, "in memory as raw values, training batches read and scaled in chunks")
        scaled = f"; scaled {self.scaling}" if self.scaling else ""
        return (f"data path: {path}{scaled} ({self.reason}; estimated peak {gib(self.streaming_peak if self.stream else self.in_memory_peak)}"
                f" of {gib(self.available_bytes)} available, {self.available_from})")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for run.json."""
        return asdict(self)


def plan_data(setting: str | bool, x: dict[str, Any], y: dict[str, Any], model: Any, batch_size: int, *,
              can_stream: bool, why_not: str = "", must_stream: str = "") -> DataPlan:
    """Choose in memory or streaming for ``data.stream: setting`` ("auto", True, False), or raise a
    :class:`DataError` with the numbers when neither fits. ``must_stream`` (a reason) streams whatever
    the memory, unless ``setting`` is False (the caller then keeps the data in memory its own way).

    >>> plan = plan_data("auto", {"train": np.zeros((10, 4), "uint8")}, {"train": np.zeros(10)}, None, 2,
    ...                  can_stream=True)
    >>> plan.stream
    False
    """
    available, source = available_memory()
    data = sum(_nbytes(v) for v in x.values()) + sum(_nbytes(v) for v in y.values())
    resident = sum(_nbytes(v) for v in x.values() if _on_disk(v))  # read into memory only by the in-memory path
    backend_copy = _nbytes(x.get("train")) + _nbytes(x.get("validation")) + _nbytes(y.get("train"))
    params = int(sum(math.prod(v.shape) for v in getattr(model, "weights", []))) if model is not None else 0
    state = params * 4 * 4  # weights, gradients, two optimizer slots (Adam), float32
    acts = activation_bytes(model, batch_size) if model is not None else 0
    train = x.get("train")
    example = _nbytes(train) // max(len(train) if not isinstance(train, dict) else 1, 1) if train is not None else 0
    batches = example * 4 * batch_size * PREFETCH  # float32 at worst, batches in flight
    in_memory = resident + backend_copy + state + acts
    streaming = state + acts + batches
    details = {"resident_data": resident, "backend_copy": backend_copy, "model_and_optimizer": state,
               "activations": acts, "batch_buffers": batches, "parameters": params}
    words = (f"the data is {gib(data)} ({gib(resident)} of it still on disk), model and optimizer {gib(state)}, "
             f"activations of a batch of {batch_size} about {gib(acts)}")
    fix_budget = ("Lower train.batch_size or use a smaller model (model.layers), or run where more memory is "
                  "available (raise the cgroup limit or $KFORGE_MEMORY_BUDGET).")

    def plan(stream: bool, reason: str) -> DataPlan:
        return DataPlan(stream, reason, str(setting).lower(), available, source, data, in_memory, streaming, details)

    if setting is True:
        if not can_stream:
            raise DataError(f"data.stream is true but this data cannot be streamed: {why_not}", where="data.stream",
                            fix="Set data.stream: auto (or false) to keep it in memory.")
        if streaming > available:
            raise DataError(f"even streaming, this run needs about {gib(streaming)} but {gib(available)} is "
                            f"available ({source}): {words}", where="data.stream", fix=fix_budget)
        return plan(True, "data.stream is true")
    if must_stream and setting is not False and can_stream:
        if streaming > available:
            raise DataError(f"this run needs about {gib(streaming)} even streaming, but {gib(available)} is "
                            f"available ({source}): {words}", where="data.stream", fix=fix_budget)
        return plan(True, must_stream)
    fits = in_memory <= available * (IN_MEMORY_SHARE if setting == "auto" else 1.0)
    if fits or (setting == "auto" and not can_stream and in_memory <= available):
        reason = "data.stream is false" if setting is False else \
            f"the in-memory peak fits {IN_MEMORY_SHARE:.0%} of the available memory"
        return plan(False, reason)
    if setting is False or not can_stream:
        how = ("Set data.stream: auto or true to stream it from the decoded cache in bounded memory, or "
               "take a data.subset") if can_stream else f"It cannot be streamed ({why_not}); take a data.subset"
        raise DataError(f"the data does not fit in memory: the run would need about {gib(in_memory)} but "
                        f"{gib(available)} is available ({source}): {words}", where="data.stream",
                        fix=f"{how}, or run where more memory is available.")
    if streaming > available:
        raise DataError(f"this run needs about {gib(streaming)} even streaming, but {gib(available)} is "
                        f"available ({source}): {words}", where="data.stream", fix=fix_budget)
    return plan(True, f"the in-memory peak ({gib(in_memory)}) is over {IN_MEMORY_SHARE:.0%} of the available memory")
