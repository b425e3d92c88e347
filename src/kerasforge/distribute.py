"""Data parallelism on the engines that are already here: Keras' distribution API on JAX.

One job: turn ``--devices``/``--num-processes``/``--process-id``/``--coordinator`` into a Keras
``DataParallel`` distribution. Each batch is split across every chosen device (and, with several
processes, across machines through ``jax.distributed``); the model's variables are replicated.

* One process, several devices: ``kforge train digits_mlp --devices all`` (on a CPU, make several
  XLA host devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``).
* Several processes or machines: the same command on each, with ``--num-processes N
  --process-id I --coordinator HOST:PORT`` (``HOST`` is process 0's address). Every process reads
  its own 1/N of the training data, so ``train.batch_size`` stays the global batch; only process 0
  (the chief) writes the run folder. See ``docs/multi-node.md``.

Keras' distribution API exists for JAX only, so asking for devices picks the JAX backend (see
:func:`kerasforge.backend.pick_backend`) and any other backend is a :class:`KerasforgeError`.

Example:
    >>> spec = DistributionSpec(devices="all")
    >>> info = configure_distribution(spec, batch_size=32)   # doctest: +SKIP
    >>> info.describe()                                       # doctest: +SKIP
    'data parallel over 4 devices (1 process)'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KerasforgeError

ENV_PROCESS_ID = "KFORGE_PROCESS_ID"
ENV_NUM_PROCESSES = "KFORGE_NUM_PROCESSES"
ENV_COORDINATOR = "KFORGE_COORDINATOR"
_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


@dataclass(frozen=True)
class DistributionSpec:
    """What the user asked for: ``devices`` ("all", a count, or None for one device), and for
    multi-process runs the process count, this process's id (0 is the chief) and the coordinator
    ``host:port`` (process 0's address). Missing values are read from ``$KFORGE_NUM_PROCESSES``,
    ``$KFORGE_PROCESS_ID`` and ``$KFORGE_COORDINATOR``, else from the scheduler that started the process
    (Slurm, a Kubernetes Indexed Job, Open MPI: see :mod:`kerasforge.launch`).

    >>> DistributionSpec(devices=2).active
    True
    >>> DistributionSpec().active
    False
    """

    devices: str | int | None = None
    num_processes: int | None = None
    process_id: int | None = None
    coordinator: str | None = None

    @property
    def processes(self) -> int:
        """The number of processes (1 unless given or set in ``$KFORGE_NUM_PROCESSES``)."""
        value = self.num_processes if self.num_processes is not None else os.environ.get(ENV_NUM_PROCESSES)
        if value in (None, ""):
            value = _scheduler().num_processes  # Slurm, Open MPI (see kerasforge.launch)
        return _as_int(value if value not in (None, "") else 1, "--num-processes", minimum=1)

    @property
    def active(self) -> bool:
        """True when anything beyond the default single device was asked for."""
        return self.devices is not None or self.processes > 1

    def resolved(self) -> DistributionSpec:
        """A checked copy with the environment's defaults filled in; raises :class:`KerasforgeError`.

        >>> DistributionSpec(devices="all").resolved().devices
        'all'
        """
        devices = self.devices
        if isinstance(devices, str) and devices.strip().lower() != "all":
            devices = _as_int(devices, "--devices", minimum=1, allowed="'all' or a positive whole number")
        elif isinstance(devices, str):
            devices = "all"
        elif devices is not None:
            devices = _as_int(devices, "--devices", minimum=1, allowed="'all' or a positive whole number")
        processes = self.processes
        if processes == 1:
            return DistributionSpec(devices=devices, num_processes=1, process_id=0, coordinator=None)
        pid = self.process_id if self.process_id is not None else os.environ.get(ENV_PROCESS_ID)
        if pid in (None, ""):
            pid = _scheduler().process_id
        if pid in (None, ""):
            raise KerasforgeError(
                f"a run over {processes} processes needs this process's id", where="--process-id",
                fix=f"Give each process its own id from 0 to {processes - 1} (--process-id or "
                    f"${ENV_PROCESS_ID}); process 0 is the coordinator and writes the run folder.")
        pid = _as_int(pid, "--process-id", minimum=0)
        if pid >= processes:
            raise KerasforgeError(f"process id {pid} is out of range for {processes} processes",
                                  where="--process-id", fix=f"Use an id from 0 to {processes - 1}.")
        coordinator = self.coordinator or os.environ.get(ENV_COORDINATOR) or _scheduler().coordinator
        if not coordinator or not _HOST_PORT.match(coordinator.strip()):
            raise KerasforgeError(
                f"a run over {processes} processes needs the coordinator's address as host:port"
                + (f", got {coordinator!r}" if coordinator else ""), where="--coordinator",
                fix=f"Pass process 0's address and a free port on every process, e.g. --coordinator "
                    f"10.0.0.1:12355 (or set ${ENV_COORDINATOR}); 127.0.0.1:PORT for processes on one machine.")
        return DistributionSpec(devices=devices if devices is not None else "all", num_processes=processes,
                                process_id=pid, coordinator=coordinator.strip())


def _scheduler() -> Any:
    """The scheduler's settings (Slurm, Kubernetes Indexed Job, Open MPI), or empty ones outside a scheduler."""
    from .launch import Launch, detect

    return detect() or Launch("none")


@dataclass(frozen=True)
class DistributionInfo:
    """The distribution in use: global and per-process device counts and this process's place.

    >>> DistributionInfo(devices=4, local_devices=2, process_index=1, process_count=2).is_chief
    False
    """

    devices: int
    local_devices: int
    process_index: int = 0
    process_count: int = 1

    @property
    def is_chief(self) -> bool:
        """True for process 0, the one that writes the run folder, the report and the tracking."""
        return self.process_index == 0

    def describe(self) -> str:
        """One line, e.g. ``data parallel over 4 devices (2 processes)``."""
        plural = "es" if self.process_count != 1 else ""
        return (f"data parallel over {self.devices} device{'s' if self.devices != 1 else ''} "
                f"({self.process_count} process{plural})")

    def as_dict(self) -> dict[str, Any]:
        """What ``run.json`` records under ``distribution``."""
        return {"devices": self.devices, "local_devices": self.local_devices,
                "process_count": self.process_count, "chief_process": 0}


def configure_distribution(spec: DistributionSpec, batch_size: int | None = None) -> DistributionInfo:
    """Start ``jax.distributed`` when there are several processes and set a Keras ``DataParallel``
    distribution over the chosen devices; returns what is in use.

    Must run after :func:`kerasforge.backend.configure_backend` (with ``distributed=True``) and
    before the model is built. ``batch_size`` (the global batch) must split evenly over the devices.

    >>> info = configure_distribution(DistributionSpec(devices="all"), batch_size=64)   # doctest: +SKIP
    >>> info.devices, info.is_chief                                                    # doctest: +SKIP
    (4, True)
    """
    import keras

    spec = spec.resolved()
    backend = keras.backend.backend()
    if backend != "jax":
        raise KerasforgeError(
            f"training on several devices or processes needs the JAX backend, but this run uses {backend}",
            where="--devices",
            fix="Keras' distribution API works on JAX only: drop `backend:` from the recipe or use "
                "`--set backend=jax`, unset KERAS_BACKEND (or set KERAS_BACKEND=jax), and install JAX "
                "(`pip install jax`, or `pip install jax[cuda12]` on NVIDIA GPUs); or train without --devices.")
    import jax

    if spec.processes > 1:
        _initialize_processes(jax, spec)
        _watch_peers(spec)
    chosen = _choose_devices(jax, spec)
    info = DistributionInfo(devices=len(chosen),
                            local_devices=sum(d.process_index == jax.process_index() for d in chosen),
                            process_index=jax.process_index(), process_count=jax.process_count())
    if batch_size is not None:
        check_batch_size(batch_size, info.devices)
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=chosen, auto_shard_dataset=info.process_count == 1))  # several processes: shard_for_process
    return info


def check_batch_size(batch_size: int, devices: int) -> None:
    """Raise a :class:`KerasforgeError` naming ``train.batch_size`` unless it splits evenly over ``devices``.

    >>> check_batch_size(32, 4)
    >>> check_batch_size(30, 4)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    kerasforge.errors.KerasforgeError: train.batch_size: ...
    """
    if batch_size % devices == 0:
        return
    lower, upper = batch_size // devices * devices, (batch_size // devices + 1) * devices
    nearest = f"{lower} or {upper}" if lower else f"{upper}"
    raise KerasforgeError(
        f"{batch_size} does not split evenly over {devices} devices (each device takes an equal share "
        f"of every batch)", where="train.batch_size",
        fix=f"Use a multiple of {devices}, e.g. --set train.batch_size={upper} ({nearest} are the nearest), "
            f"or train on fewer devices.")


def shard_for_process(recipe: Any, prepared: Any, info: DistributionInfo) -> Any:
    """Fit the prepared arrays to the devices and return the recipe ``fit`` should use.

    Every process trains on its own 1/N of the training rows (an equal number each) with a batch of
    ``train.batch_size / N``, so the global batch is the recipe's. Streamed (``data.stream``), the rows
    stay whole and each process reads its 1/N of every epoch's seeded permutation
    (:func:`kerasforge.data.stream.epoch_order`): each epoch covers the whole split, in the one-process order. Training and validation rows are cut
    to a multiple of the per-process device count, because every batch, the last one included, must
    split evenly over the devices (at most ``devices - 1`` rows are dropped). ``prepared.x``/``.y`` are
    changed in place; the returned recipe is a copy (the run folder keeps the original).
    """
    step = info.local_devices
    n, index = info.process_count, info.process_index
    total = _rows(prepared.x["train"])
    per_process = total // n // step * step
    plan = getattr(prepared, "data_plan", None)
    if n > 1 and getattr(plan, "stream", False):  # each process reads its 1/N of every epoch's permutation
        plan.shard, plan.shard_multiple = (index, n), step
    else:
        keep = slice(index, index + per_process * n, n) if n > 1 else slice(0, per_process)
        prepared.x["train"], prepared.y["train"] = _take(prepared.x["train"], keep), _take(prepared.y["train"], keep)
    if prepared.x.get("validation") is not None:
        val = _rows(prepared.x["validation"]) // step * step
        prepared.x["validation"] = _take(prepared.x["validation"], slice(0, val))
        prepared.y["validation"] = _take(prepared.y["validation"], slice(0, val))
    if n == 1:
        return recipe
    copy = recipe.model_copy(deep=True)
    copy.train.batch_size = recipe.train.batch_size // n
    return copy


def localize(model: Any) -> None:
    """Turn the distribution off and bring the (replicated) variables to this process's first device,
    so that evaluation, the report and saving run on any number of rows, on the chief alone."""
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np

    keras.distribution.set_distribution(None)
    device = jax.local_devices()[0]
    seen: set[int] = set()
    optimizer = getattr(model, "optimizer", None)
    for variable in [*model.variables, *(optimizer.variables if optimizer is not None else []),
                     *getattr(model, "metrics_variables", [])]:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        value = np.asarray(variable.value)
        variable._layout = None
        variable._direct_assign(jax.device_put(jnp.asarray(value), device))
    model.train_function = model.test_function = model.predict_function = None


_WATCH: Any = None  # the PeerWatch of this process's multi-process run


def _watch_peers(spec: DistributionSpec) -> None:
    global _WATCH
    from .peers import PeerWatch, peer_address
    from .supervise import ENV_SUPERVISED, ChildState, supervised

    if _WATCH is None and supervised():  # `kforge train`: its supervisor watches the peers
        _WATCH = ChildState(os.environ[ENV_SUPERVISED])
    elif _WATCH is None:  # the Python API: watched from this process, on a best-effort basis
        try:
            _WATCH = PeerWatch(spec.process_id or 0, spec.processes, peer_address(spec.coordinator or "")).start()
        except OSError as exc:
            raise KerasforgeError(
                f"could not open kerasforge's liveness channel for the {spec.processes}-process run "
                f"({exc.strerror or exc})", where="--coordinator",
                fix="The coordinator's port + 1 must be free on process 0's machine too (or set "
                    "$KFORGE_PEER_PORT to a free port, the same on every process).") from exc


def worker_scratch(info: DistributionInfo) -> Path:
    """A non-chief process's scratch folder (its history and checkpoints, deleted at the end).

    Folders left by this process id's earlier runs on this machine whose process is gone (killed) are
    removed first; the peers' watch removes this one if a peer is lost.
    """
    import shutil
    import tempfile

    from .lifecycle import pid_alive

    prefix = f"kforge-process{info.process_index}-"
    for old in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = old.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    if _WATCH is not None:
        _WATCH.attach(scratch=scratch)
    return scratch


def start_together(model: Any, info: DistributionInfo, recipe: Any, output_dir: Any, resume: bool | None) -> int:
    """Give every process the chief's starting point; returns the epoch to start from (0: afresh).

    The chief looks for the run to resume (as :func:`kerasforge.pipeline.open_run_folder` will) and sends
    its epoch count and resume-point file to every process; each other process then loads that file the
    way the chief does, so a resumed multi-process run continues identically everywhere (and the
    collectives Keras runs while loading match on all processes). No shared disk is needed.
    """
    if info.process_count == 1:
        return 0
    import numpy as np
    from jax.experimental import multihost_utils

    epoch, blob = 0, np.zeros(0, np.uint8)
    if info.is_chief:
        weights = _resume_weights(recipe, output_dir, resume)
        if weights is not None:
            epoch, blob = weights[0], np.frombuffer(weights[1].read_bytes(), np.uint8)
    epoch, size = (int(v) for v in multihost_utils.broadcast_one_to_all(np.array([epoch, blob.size], np.int64)))
    if epoch == 0:
        return 0
    if not info.is_chief:
        blob = np.zeros(size, np.uint8)
    blob = np.asarray(multihost_utils.broadcast_one_to_all(blob))
    if not info.is_chief:
        import tempfile

        from .console import say

        with tempfile.TemporaryDirectory(prefix="kforge-resume-") as folder:
            path = Path(folder) / "resume.weights.h5"
            path.write_bytes(blob.tobytes())
            model.optimizer.build(model.trainable_variables)  # as open_run_folder does on the chief
            model.load_weights(path)
        say(f"  process {info.process_index}: resuming after epoch {epoch} with process 0's weights", style="cyan")
    return epoch


def watch_run(run_dir: Path) -> None:
    """Tell the peers' watch the chief's run folder (so a survivor can mark it failed)."""
    if _WATCH is not None:
        _WATCH.attach(run_dir=run_dir)


def _resume_weights(recipe: Any, output_dir: Any, resume: bool | None) -> tuple[int, Path] | None:
    from .runs import find_resumable
    from .training.callbacks import read_resume_point

    resume = recipe.output.resume if resume is None else resume
    run_dir = find_resumable(Path(output_dir or recipe.output.dir), recipe) if resume else None
    state = read_resume_point(run_dir / "checkpoints") if run_dir else None
    if state is None:
        return None
    return int(state["epochs_done"]), run_dir / "checkpoints" / state["weights"]


def peer_callbacks() -> list:
    """Keras callbacks of the peers' watch (the epoch in progress, for the lost-process message)."""
    from .peers import epoch_tracker

    return [epoch_tracker(_WATCH)] if _WATCH is not None else []


def training_done() -> None:
    """Training (every collective) is over: a peer leaving from now on is not a loss."""
    if _WATCH is not None:
        _WATCH.finish()


def _initialize_processes(jax: Any, spec: DistributionSpec) -> None:
    if jax.distributed.is_initialized():
        return
    try:
        jax.distributed.initialize(coordinator_address=spec.coordinator, num_processes=spec.processes,
                                   process_id=spec.process_id)
    except Exception as exc:  # a wrong address, a busy port, a peer that never came
        raise KerasforgeError(
            f"could not join the {spec.processes}-process run at {spec.coordinator} as process "
            f"{spec.process_id} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            where="--coordinator",
            fix="Start every process with the same --num-processes and --coordinator (process 0's address "
                "and a free port reachable from all), each with its own --process-id.") from exc


def _choose_devices(jax: Any, spec: DistributionSpec) -> list:
    devices = list(jax.devices())
    if spec.devices == "all":
        return devices
    wanted, processes = int(spec.devices), jax.process_count()
    if wanted > len(devices) or wanted % processes:
        hint = (" On a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N host devices."
                if devices and devices[0].platform == "cpu" else "")
        raise KerasforgeError(
            f"{wanted} devices were asked for, but {len(devices)} are visible"
            + (f" over {processes} processes" if processes > 1 else ""), where="--devices",
            fix=f"Use --devices all or a number up to {len(devices)}"
                + (f" that is a multiple of {processes}" if processes > 1 else "") + "." + hint)
    per_process = wanted // processes
    return [d for p in range(processes) for d in [d for d in devices if d.process_index == p][:per_process]]


def _rows(x: Any) -> int:
    if isinstance(x, dict):
        return _rows(next(iter(x.values())))
    if isinstance(x, list | tuple):
        return _rows(x[0])
    return len(x)


def _take(x: Any, rows: slice) -> Any:
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: _take(v, rows) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_take(v, rows) for v in x)
    return x[rows]


def _as_int(value: Any, where: str, *, minimum: int, allowed: str | None = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise KerasforgeError(f"expected {allowed or f'a whole number >= {minimum}'}, got {value!r}", where=where,
                              fix=f"Pass {allowed or f'a whole number from {minimum} up'}.")
    return number
