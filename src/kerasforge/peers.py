"""Liveness of the processes of a multi-process run: each one watches the others, beside JAX's runtime.

JAX's coordination service notices a dead peer late (its heartbeat timeout, 100 s by default) and then
aborts the process with a C++ check failure. kerasforge keeps its own small TCP channel instead: the
chief (process 0) listens on the coordinator's host at the coordinator port + 1 (or
``$KFORGE_PEER_PORT``), every other process connects to it, and both ends send a beat every second.
A killed process's socket is closed by its kernel, so its peers know at once; a machine that goes
silent (power, network) is declared lost after ``$KFORGE_PEER_TIMEOUT`` seconds (20 by default).

When a peer is lost, the survivor writes down what it must (the chief marks the run folder failed
with the reason; a worker removes its scratch folder), prints one ``kforge: error: ...`` paragraph
naming the lost process, and leaves with :data:`EXIT_PEER_LOST` through ``os._exit`` — the JAX
runtime, with a collective that will never complete, would otherwise hang and then abort.

Example:
    >>> watch = PeerWatch(process_id=0, num_processes=2, address=("127.0.0.1", 12356))  # doctest: +SKIP
    >>> watch.start(); watch.attach(run_dir=Path("runs/x")); ...; watch.finish()        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ENV_PEER_PORT = "KFORGE_PEER_PORT"
ENV_PEER_TIMEOUT = "KFORGE_PEER_TIMEOUT"
EXIT_PEER_LOST = 75  # EX_TEMPFAIL: try again (Slurm/Kubernetes may restart the job; it resumes)
BEAT_S = 1.0
CONNECT_S = 300.0  # how long the processes wait for each other to connect (as JAX's initialization_timeout)


def peer_address(coordinator: str) -> tuple[str, int]:
    """The chief's liveness address: the coordinator's host and port + 1, or ``$KFORGE_PEER_PORT``.

    >>> peer_address("10.0.0.1:12355")
    ('10.0.0.1', 12356)
    """
    host, _, port = coordinator.strip().rpartition(":")
    override = os.environ.get(ENV_PEER_PORT)
    return host.strip("[]"), int(override) if override else int(port) + 1


def peer_timeout() -> float:
    """Seconds of silence after which a peer counts as lost (``$KFORGE_PEER_TIMEOUT``, default 20)."""
    try:
        return max(2.0, float(os.environ.get(ENV_PEER_TIMEOUT, "20")))
    except ValueError:
        return 20.0


class PeerWatch:
    """Watch the other processes of a run; call :meth:`finish` once training no longer needs them."""

    def __init__(self, process_id: int, num_processes: int, address: tuple[str, int], *,
                 timeout: float | None = None, on_lost: Callable[[str], None] | None = None) -> None:
        self.process_id, self.num_processes, self.address = process_id, num_processes, address
        self.timeout = timeout or peer_timeout()
        self.run_dir: Path | None = None       # the chief's run folder (known to every process)
        self.scratch: Path | None = None       # a worker's own scratch folder
        self.epoch: int | None = None          # the epoch being trained (1-based), for the message
        self._on_lost = on_lost or self._stop_process
        self._lock = threading.Lock()
        self._peers: dict[int, _Peer] = {}
        self._done = threading.Event()
        self._lost = False
        self._server: socket.socket | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> PeerWatch:
        """Open the channel (the chief listens, the others connect) and start beating; returns self."""
        if self.process_id == 0:
            self._server = socket.create_server(("", self.address[1]), reuse_port=False)
            self._server.settimeout(1.0)
            threading.Thread(target=self._accept, name="kforge-peers-accept", daemon=True).start()
        else:
            sock = self._connect()
            self._send(sock, f"HELLO {self.process_id} {socket.gethostname()} {os.getpid()}")
            self._add(0, sock, f"process 0 (the chief, {self.address[0]})")
        threading.Thread(target=self._beat, name="kforge-peers-beat", daemon=True).start()
        return self

    def attach(self, *, run_dir: Path | None = None, scratch: Path | None = None) -> None:
        """Tell the watch the run folder (the chief passes it on to every process) or this worker's scratch."""
        if scratch is not None:
            self.scratch = scratch
            with self._lock:
                chief = self._peers.get(0)
            if chief:
                self._send(chief.sock, f"SCRATCH {scratch}")
        if run_dir is not None:
            self.run_dir = Path(run_dir).resolve()
            self._broadcast(f"RUN {self.run_dir}")

    def peer_scratch_folders(self) -> list[Path]:
        """The scratch folders the other processes on this machine reported (a lost one's is removed)."""
        with self._lock:
            return [p.scratch for p in self._peers.values() if p.scratch is not None]

    def finish(self) -> None:
        """Training is over: say so to the peers and stop watching (a peer leaving now is no loss)."""
        if self._done.is_set():
            return
        self._broadcast("DONE")
        self._done.set()

    # -- the chief -----------------------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._server is not None
        deadline = time.monotonic() + CONNECT_S
        while not self._done.is_set():
            with self._lock:
                joined = len(self._peers)
            if joined == self.num_processes - 1:
                break
            if time.monotonic() > deadline:
                missing = sorted(set(range(1, self.num_processes)) - set(self._peers))
                self._lose(f"process {missing[0]} never joined kerasforge's liveness channel on port "
                           f"{self.address[1]} within {CONNECT_S:.0f} s")
                return
            try:
                sock, (host, _) = self._server.accept()
            except (TimeoutError, OSError):
                continue
            sock.settimeout(self.timeout)
            hello = _read_line(sock)
            parts = (hello or "").split()
            if len(parts) != 4 or parts[0] != "HELLO":
                sock.close()
                continue
            pid = int(parts[1])
            self._add(pid, sock, f"process {pid} (host {parts[2]}, pid {parts[3]})", host=parts[2])
            if self.run_dir is not None:
                self._send(sock, f"RUN {self.run_dir}")
        with contextlib.suppress(OSError):
            self._server.close()

    # -- both ----------------------------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + CONNECT_S
        while True:
            try:
                sock = socket.create_connection(self.address, timeout=5)
                sock.settimeout(self.timeout)
                return sock
            except OSError as exc:
                if time.monotonic() > deadline:
                    self._lose(f"process 0 (the chief) did not open kerasforge's liveness channel at "
                               f"{self.address[0]}:{self.address[1]} ({exc})")
                time.sleep(0.5)

    def _add(self, pid: int, sock: socket.socket, name: str, host: str | None = None) -> None:
        peer = _Peer(pid, sock, name, host)
        with self._lock:
            self._peers[pid] = peer
        threading.Thread(target=self._listen, args=(peer,), name=f"kforge-peer-{pid}", daemon=True).start()

    def _listen(self, peer: _Peer) -> None:
        buffer = b""
        while True:
            try:
                chunk = peer.sock.recv(4096)
            except TimeoutError:
                chunk, reason = None, f"it sent nothing for {self.timeout:.0f} s"
            except OSError as exc:
                chunk, reason = None, f"its connection broke ({exc.strerror or exc})"
            else:
                reason = "its connection closed (the process stopped)"
            if not chunk:
                if not peer.done and not self._done.is_set():
                    self._lose(f"{peer.name} was lost: {reason}")
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._handle(peer, line.decode("utf-8", "replace"))

    def _handle(self, peer: _Peer, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "DONE":
            peer.done = True
        elif kind == "RUN" and self.process_id != 0:
            self.run_dir = Path(rest)
        elif kind == "SCRATCH" and peer.host == socket.gethostname():  # removable by us if it is lost
            peer.scratch = Path(rest)
        elif kind == "LOST" and not self._done.is_set():
            self._lose(rest)

    def _beat(self) -> None:
        while not self._done.wait(BEAT_S):
            self._broadcast("BEAT")

    def _broadcast(self, line: str) -> None:
        with self._lock:
            peers = list(self._peers.values())
        for peer in peers:
            self._send(peer.sock, line)

    def _send(self, sock: socket.socket, line: str) -> None:
        with contextlib.suppress(OSError):
            sock.sendall((line + "\n").encode("utf-8"))

    def lose_quietly(self, reason: str) -> None:
        """This process is the one lost (its supervisor saw its training die): tell the others, stop watching."""
        with self._lock:
            self._lost = True
        self._broadcast(f"LOST {reason}")
        self._done.set()

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self._lost:
                return
            self._lost = True
        if self.process_id == 0:
            self._broadcast(f"LOST {reason}")  # the others name the same lost process
        self._on_lost(reason)

    # -- what a survivor does ------------------------------------------------------------------------
    def _stop_process(self, reason: str) -> None:
        where = f" during epoch {self.epoch}" if self.epoch else ""
        me = f"process {self.process_id} of {self.num_processes}"
        notes: list[str] = []
        if self.run_dir is not None and self.run_dir.is_dir():
            resume = mark_failed(self.run_dir, f"{reason}{where}")
            notes.append(f"the run folder {self.run_dir} is marked failed; run the same command on every "
                         f"process ({self.num_processes} processes) to resume it{resume}")
        elif self.run_dir is not None:
            notes.append(f"run the same command on every process ({self.num_processes} processes) to resume "
                         f"the run in {self.run_dir} on process 0's machine")
        with self._lock:
            scratches = [self.scratch, *(p.scratch for p in self._peers.values())]
        for folder in scratches:  # ours, and a lost worker's on this machine
            if folder is not None and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
        message = (f"kforge: error: {reason}{where}; {me} stops"
                   + (f" ({'; '.join(notes)})" if notes else "") + ".")
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        print(message, file=sys.stderr, flush=True)
        os._exit(EXIT_PEER_LOST)


class _Peer:
    def __init__(self, pid: int, sock: socket.socket, name: str, host: str | None) -> None:
        self.pid, self.sock, self.name, self.host = pid, sock, name, host
        self.done = False
        self.scratch: Path | None = None


def mark_failed(run_dir: Path, reason: str) -> str:
    """Mark ``run_dir`` failed with ``reason``; returns " after epoch N" (the resume point) or ""."""
    from .runs import read_json, update_run_info
    from .training.callbacks import read_resume_point

    info = read_json(run_dir / "run.json", {}) or {}
    if info.get("status") in ("finished", "pruned"):
        return ""
    update_run_info(run_dir, status="failed", error=f"lost a process: {reason}"[:2000])
    state = read_resume_point(run_dir / "checkpoints")
    return f" after epoch {state['epochs_done']}" if state else " from the start"


def epoch_tracker(watch: PeerWatch):
    """A Keras callback that keeps ``watch.epoch`` current (the lost-process message names the epoch)."""
    import keras

    class _EpochTracker(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            watch.epoch = epoch + 1

        def on_train_end(self, logs: dict | None = None) -> None:
            watch.epoch = None

    return _EpochTracker()


def _read_line(sock: socket.socket) -> str | None:
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < 1024:
            chunk = sock.recv(1)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    return data.decode("utf-8", "replace").strip()
