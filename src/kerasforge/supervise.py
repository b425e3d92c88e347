"""``kforge train`` over several processes: a small supervisor around each training process.

A process of a multi-process JAX run cannot stop cleanly by itself when a peer dies: the collective
library (gloo on CPUs) aborts it at once with a C++ error, or the run hangs until JAX's heartbeat
timeout and then aborts. So the ``kforge train`` command of a multi-process run stays a light process
(no JAX) that starts the training as its child and keeps :class:`kerasforge.peers.PeerWatch`'s
liveness channel with the other processes' supervisors. When a peer is lost — or its own child dies —
it stops its child, marks the run folder failed with the reason (the chief's folder, when reachable
from this machine), removes the worker's scratch folder, prints one ``kforge: error:`` paragraph
naming the lost process and exits with :data:`kerasforge.peers.EXIT_PEER_LOST` (75). The same command
run again resumes from the last finished epoch.

The child sends its state (run folder, scratch folder, epoch in progress) over a pipe whose file
descriptor is ``$KFORGE_SUPERVISED``; it dies with its supervisor (``PR_SET_PDEATHSIG``), so ``kill -9`` of the
``kforge`` command takes the whole process down, as its peers expect.

Example (what ``kforge train`` does when ``--num-processes`` is above 1)::

    code = supervise(["train", "digits_mlp", "--num-processes", "2", ...], spec)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .peers import EXIT_PEER_LOST, PeerWatch, mark_failed, peer_address

ENV_SUPERVISED = "KFORGE_SUPERVISED"  # the state file a supervised training process writes
GRACE_S = 3.0  # after the child died: how long to wait for news of a lost peer (its likely cause)


def supervised() -> bool:
    """True inside a training process started by :func:`supervise`."""
    return bool(os.environ.get(ENV_SUPERVISED))


class ChildState:
    """The training process's side: what its supervisor needs if it has to clean up after it, sent as
    JSON lines over an inherited pipe (nothing is left on disk if both are killed).

    Has the part of :class:`~kerasforge.peers.PeerWatch`'s interface that training uses.
    """

    def __init__(self, fd: int | str) -> None:
        self._pipe = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8")
        self._epoch: int | None = None

    def attach(self, *, run_dir: Path | None = None, scratch: Path | None = None) -> None:
        if run_dir is not None:
            self._send(run_dir=str(Path(run_dir).resolve()))
        if scratch is not None:
            self._send(scratch=str(scratch))

    @property
    def epoch(self) -> int | None:
        return self._epoch

    @epoch.setter
    def epoch(self, value: int | None) -> None:
        self._epoch = value
        self._send(epoch=value)

    def finish(self) -> None:
        self._send(done=True)

    def _send(self, **fields: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._pipe.write(json.dumps(fields) + "\n")


def supervise(argv: list[str], spec: Any) -> int:
    """Run ``kforge <argv>`` as a supervised child for process ``spec.process_id`` of ``spec.processes``;
    returns the exit code (the child's, or 75 when a process of the run was lost)."""
    state: dict[str, Any] = {}
    lost = threading.Event()
    reasons: list[str] = []

    def on_lost(reason: str) -> None:
        reasons.append(reason)
        lost.set()

    try:
        watch = PeerWatch(spec.process_id, spec.processes, peer_address(spec.coordinator), on_lost=on_lost).start()
    except OSError as exc:
        print(f"kforge: error: --coordinator: could not open kerasforge's liveness channel on port "
              f"{peer_address(spec.coordinator)[1]} ({exc.strerror or exc}). The coordinator's port + 1 must "
              f"be free on process 0's machine too, or set $KFORGE_PEER_PORT to a free port (the same on "
              f"every process).", file=sys.stderr)
        return 2
    read_end, write_end = os.pipe()
    env = {**os.environ, ENV_SUPERVISED: str(write_end)}
    child = subprocess.Popen([sys.executable, "-m", "kerasforge.cli", *argv], env=env, pass_fds=(write_end,),
                             preexec_fn=_die_with_parent)
    os.close(write_end)
    threading.Thread(target=_read_states, args=(read_end, state, watch), daemon=True).start()
    forward = _forward_signals(child)
    try:
        while child.poll() is None and not lost.is_set():
            lost.wait(0.2)
        if child.poll() is not None and child.returncode == 0:
            watch.finish()
            return 0
        killed = child.returncode in (-signal.SIGKILL, -signal.SIGTERM)  # from outside: the cause itself
        if not lost.is_set() and not killed:  # it died first: a lost peer may be the cause, news may be coming
            lost.wait(GRACE_S)
        _stop(child)
        time.sleep(0.1)  # the last lines of the pipe
        state = dict(state)
        if not state.get("run_dir") and watch.run_dir is not None:  # the chief's, told over the channel
            state["run_dir"] = str(watch.run_dir)
        code = child.returncode
        if reasons:
            reason = reasons[0]
        else:
            how = (f"was killed by signal {signal.Signals(-code).name}" if code < 0
                   else f"stopped with exit code {code}")
            reason = f"process {spec.process_id} of {spec.processes} {how}"
            watch.lose_quietly(reason)  # tell the others
            if code in (1, 2, 130):  # an error kforge (or Python) already reported, or Ctrl-C
                _cleanup(state, reason, spec, watch)
                return code
        print(_cleanup(state, reason, spec, watch), file=sys.stderr, flush=True)
        return EXIT_PEER_LOST
    finally:
        forward()
        _stop(child)


def _read_states(fd: int, state: dict[str, Any], watch: PeerWatch) -> None:
    """Collect the child's state lines; pass the run folder (chief) or scratch folder (worker) to the peers."""
    with os.fdopen(fd, encoding="utf-8") as pipe:
        for line in pipe:
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            state.update(fields)
            if fields.get("run_dir") or fields.get("scratch"):
                watch.attach(run_dir=Path(fields["run_dir"]) if fields.get("run_dir") else None,
                             scratch=Path(fields["scratch"]) if fields.get("scratch") else None)


def _cleanup(state: dict[str, Any], reason: str, spec: Any, watch: PeerWatch) -> str:
    """Mark the run failed, remove the scratch folder; returns the message to print."""
    where = f" during epoch {state['epoch']}" if state.get("epoch") else ""
    notes = []
    run_dir = Path(state["run_dir"]) if state.get("run_dir") else None
    if run_dir is not None and run_dir.is_dir():
        resume = mark_failed(run_dir, f"{reason}{where}")
        notes.append(f"the run folder {run_dir} is marked failed; run the same command on every process "
                     f"({spec.processes} processes) to resume it{resume}")
    else:
        notes.append(f"run the same command on every process ({spec.processes} processes) to resume the run "
                     f"from process 0's last finished epoch")
    for folder in [state.get("scratch"), *watch.peer_scratch_folders()]:  # ours, a lost peer's on this machine
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    me = f"process {spec.process_id} of {spec.processes}"
    return f"kforge: error: {reason}{where}; {me} stops ({'; '.join(notes)})."


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        with contextlib.suppress(OSError):
            child.kill()  # it may be stuck in a collective that will never complete
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)


def _forward_signals(child: subprocess.Popen):
    """SIGTERM (a scheduler's stop) goes on to the child; Ctrl-C reaches it through the terminal (and
    the supervisor ignores it, waiting for its child to stop)."""
    def handler(signum, frame):
        with contextlib.suppress(OSError):
            child.send_signal(signum)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, handler),
                signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}  # the child has it from the tty

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise_if_needed(argv: list[str], devices: Any = None, num_processes: int | None = None,
                        process_id: int | None = None, coordinator: str | None = None) -> int | None:
    """Supervise ``kforge <argv>`` when it joins a multi-process run (and is not already supervised);
    returns the exit code, or ``None`` when this process should train by itself."""
    from .distribute import DistributionSpec

    if supervised():
        return None
    spec = DistributionSpec(devices, num_processes, process_id, coordinator)
    if spec.processes == 1:
        return None
    return supervise(argv, spec.resolved())
