"""A run folder's life: who owns it, whether that owner still lives, and what is left to finish.

* **Owner.** The process that trains (or finishes) a run holds an exclusive ``fcntl.flock`` on the
  folder's ``.kforge.lock``; the kernel releases it when the process dies, however it dies, so "is the
  lock free?" is the exact test of a dead owner on this machine. ``run.json`` names the owner
  (``owner: {pid, host, since}``) and a thread touches the lock file every ``HEARTBEAT_S`` seconds:
  on another host (a shared file system without working locks) a heartbeat older than ``STALE_S``
  means the owner is gone.
* **Shown status.** A ``running`` run whose owner is gone is ``interrupted`` (:func:`shown_status`).
* **Parts.** ``run.json``'s ``parts`` says which parts of a run exist: ``model`` and ``metrics``
  (``done`` once saved), ``report`` and ``tracking`` (``pending``, ``done`` or ``failed``). A rerun of
  the same recipe finishes the pending parts of its last run instead of training again
  (:func:`find_unfinished`); ``kforge report RUN`` / ``kforge track RUN`` finish them by hand.
* **Writable output.** :func:`check_writable` fails up front, in one paragraph, when the output folder
  cannot be written; a save that fails mid-run keeps the trained model elsewhere and says where
  (:func:`rescue_model`).

Example:
    >>> lock = claim(run_dir)                # doctest: +SKIP
    >>> shown_status(run_dir)                # doctest: +SKIP
    'running'
    >>> lock.release()                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .errors import KerasforgeError
from .runs import read_json, update_run_info

LOCK_NAME = ".kforge.lock"
HEARTBEAT_S = 10.0
STALE_S = 120.0
FINISHING_PARTS = ("report", "tracking")

_HELD: dict[str, RunLock] = {}  # run folder -> the lock this process holds on it
_HELD_GUARD = threading.Lock()


class RunInUseError(KerasforgeError):
    """Another live process owns the run folder."""


class RunLock:
    """This process's exclusive claim on a run folder (see the module docstring)."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir, self.fd = run_dir, fd
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"kforge-heartbeat-{run_dir.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.run_dir / LOCK_NAME)

    def release(self) -> None:
        """Give the folder up (idempotent)."""
        self._stop.set()
        with _HELD_GUARD:
            if _HELD.get(str(self.run_dir)) is self:
                del _HELD[str(self.run_dir)]
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
            self.fd = -1


def _key(run_dir: Path) -> str:
    return str(Path(run_dir).resolve())


def claim(run_dir: Path, *, wait: float = 2.0, doing: str = "training") -> RunLock:
    """Take ownership of ``run_dir`` (waiting up to ``wait`` seconds); raises :class:`RunInUseError`
    naming the owner when another live process has it. Claiming a folder this process holds already
    returns the same lock.
    """
    run_dir = Path(run_dir).resolve()
    with _HELD_GUARD:
        if str(run_dir) in _HELD:
            return _HELD[str(run_dir)]
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise in_use_error(run_dir) from None
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.utime(run_dir / LOCK_NAME)
    lock = RunLock(run_dir, fd)
    with _HELD_GUARD:
        _HELD[str(run_dir)] = lock
    update_run_info(run_dir, pid=os.getpid(), host=socket.gethostname(),
                    owner={"pid": os.getpid(), "host": socket.gethostname(), "doing": doing,
                           "since": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return lock


def release(run_dir: Path | None) -> None:
    """Release this process's lock on ``run_dir``, if it holds one."""
    if run_dir is None:
        return
    with _HELD_GUARD:
        lock = _HELD.get(_key(run_dir))
    if lock is not None:
        lock.release()


def wait_for(run_dir: Path, *, timeout: float = 600.0, say=None) -> RunLock:
    """Claim ``run_dir``, waiting (up to ``timeout`` seconds) for a live owner that is finishing it."""
    try:
        return claim(run_dir, wait=0.5, doing="finishing")
    except RunInUseError:
        if say:
            owner = (read_json(Path(run_dir) / "run.json", {}) or {}).get("owner") or {}
            say(f"  waiting for process {owner.get('pid', '?')} to finish with {run_dir}")
        return claim(run_dir, wait=timeout, doing="finishing")


@contextlib.contextmanager
def finishing(run_dir: str | Path, say=None):
    """Own a finished run folder while a report or tracking is made by hand (``kforge report``/``track``),
    waiting for a background finisher that is at it; other folders are used as they are."""
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run.json", {}) or {}
    if info.get("status") != "finished" or not (run_dir / LOCK_NAME).exists():
        yield
        return
    lock = wait_for(run_dir, say=say)
    try:
        yield
    finally:
        lock.release()


def in_use_error(run_dir: Path) -> RunInUseError:
    """The error for a run folder that another live process owns."""
    owner = (read_json(Path(run_dir) / "run.json", {}) or {}).get("owner") or {}
    who = f"process {owner.get('pid', '?')} on {owner.get('host', '?')}"
    doing = owner.get("doing", "training")
    return RunInUseError(f"the run folder {run_dir} is in use: {who} is {doing} it (since "
                         f"{owner.get('since', '?')})", where=str(run_dir),
                         fix="Wait for it to end, or start a separate run with `kforge train RECIPE --new`.")


def lock_held(run_dir: Path) -> bool | None:
    """True when a live process holds ``run_dir``'s lock, False when nobody does, None when unknown
    (no lock file: a run from before locks, or unreadable)."""
    path = Path(run_dir) / LOCK_NAME
    with _HELD_GUARD:
        if _key(run_dir) in _HELD:
            return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError as exc:
        return True if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    finally:
        os.close(fd)


def owner_alive(run_dir: Path, info: dict[str, Any] | None = None) -> bool:
    """Whether the process that owns ``run_dir`` still lives: the lock on this host; elsewhere the
    heartbeat; for folders without a lock file, the recorded pid on this host."""
    info = info if info is not None else read_json(Path(run_dir) / "run.json", {}) or {}
    owner = info.get("owner") or {"pid": info.get("pid"), "host": info.get("host")}
    same_host = owner.get("host") in (None, socket.gethostname())
    held = lock_held(run_dir)
    if held is not None and same_host:
        return held
    if held:
        return True
    if not same_host:
        with contextlib.suppress(OSError):
            return time.time() - (Path(run_dir) / LOCK_NAME).stat().st_mtime < STALE_S
        return False
    return pid_alive(owner.get("pid"))


def pid_alive(pid: Any) -> bool:
    """True when ``pid`` is a live process of this host (not this process, not a zombie)."""
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def shown_status(run_dir: Path, info: dict[str, Any] | None = None) -> str:
    """The status to show: ``interrupted`` for a ``running`` run whose owner is gone; a finished run
    with parts left says so (``finished, report pending``)."""
    info = info if info is not None else read_json(Path(run_dir) / "run.json", {}) or {}
    status = str(info.get("status", "?"))
    if status == "running" and not owner_alive(run_dir, info):
        return "interrupted"
    if status == "finished":
        left = [f"{part} {state}" for part, state in (info.get("parts") or {}).items()
                if state in ("pending", "failed")]
        if left and not (lock_held(run_dir) and any(s == "pending" for s in (info.get("parts") or {}).values())):
            return "finished, " + ", ".join(left)
        if left:
            return "finished, finishing"
    return status


# ---------------------------------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------------------------------
def set_parts(run_dir: Path, **states: str | None) -> dict[str, Any]:
    """Record the state of parts (``model="done"``, ``report="pending"``...; ``None`` removes one)."""
    info = read_json(Path(run_dir) / "run.json", {}) or {}
    parts = dict(info.get("parts") or {})
    for name, state in states.items():
        if state is None:
            parts.pop(name, None)
        else:
            parts[name] = state
    return update_run_info(Path(run_dir), parts=parts)


def unfinished_parts(info: dict[str, Any]) -> list[str]:
    """The parts of a finished run still ``pending`` (killed before they were made) or ``failed``."""
    parts = info.get("parts") or {}
    return [p for p in FINISHING_PARTS if parts.get(p) in ("pending", "failed")]


def find_unfinished(output_dir: Path, recipe) -> Path | None:
    """The newest finished run of ``recipe`` (same fingerprint) in ``output_dir`` with parts still pending
    and no live owner: a rerun finishes it instead of training again."""
    from .runs import fingerprint

    if not Path(output_dir).is_dir():
        return None
    wanted = fingerprint(recipe)
    found = []
    for run_json in Path(output_dir).glob(f"{recipe.name}-*/run.json"):
        info = read_json(run_json, {}) or {}
        if (info.get("status") == "finished" and info.get("fingerprint") == wanted
                and "pending" in (info.get("parts") or {}).values()
                and (run_json.parent / "model.keras").is_file() and not owner_alive(run_json.parent, info)):
            found.append((run_json.stat().st_mtime, run_json.parent))
    return max(found)[1] if found else None


def adopt_resumable(output_dir: Path, recipe, say=None) -> Path | None:
    """The newest interrupted run of ``recipe`` in ``output_dir``, claimed for this process; runs in use
    by a live process are passed over, and said so (a new run folder is then made)."""
    from .runs import find_resumable

    busy: list[Path] = []
    while True:
        run_dir = find_resumable(output_dir, recipe, busy=busy)
        if run_dir is None:
            break
        try:
            claim(run_dir)
            return run_dir
        except RunInUseError:  # another process took it a moment ago
            busy.append(run_dir)
    for folder in busy:
        if say:
            owner = (read_json(folder / "run.json", {}) or {}).get("owner") or {}
            say(f"  note: {folder} is in use by process {owner.get('pid', '?')} on {owner.get('host', '?')}; "
                "training in a new run folder instead", style="yellow")
    return None


def stopped(run_dir: Path, status: str, exc: BaseException | None = None, model=None) -> KerasforgeError | None:
    """Record that training stopped (``interrupted``/``failed``) and release the folder. When the
    folder could not be written, the model is kept elsewhere and the error saying where is returned."""
    fields: dict[str, Any] = {"status": status}
    if exc is not None:
        fields["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    rescued = None
    try:
        update_run_info(Path(run_dir), **fields)
    except OSError as write_error:
        if model is not None:
            rescued = rescue_model(model, run_dir, write_error)
    if rescued is None and exc is not None and model is not None and is_write_error(exc, Path(run_dir)):
        rescued = rescue_model(model, run_dir, exc)  # type: ignore[arg-type]
    release(run_dir)
    return rescued


def save_run_files(model, run_dir: Path, formats: list[str], metrics: dict) -> None:
    """``metrics.json`` and the model files; when the folder cannot be written the model is kept
    elsewhere and a :class:`KerasforgeError` says where (the run is marked failed when possible)."""
    from .lean import tensorflow_left_out
    from .saving import save_model
    from .training.callbacks import write_json_atomic

    try:
        write_json_atomic(Path(run_dir) / "metrics.json", metrics)
        with tensorflow_left_out():  # Keras would import TensorFlow to test for its types (JAX runs)
            save_model(model, Path(run_dir), formats)
    except OSError as exc:
        error = rescue_model(model, run_dir, exc)
        with contextlib.suppress(OSError):
            update_run_info(Path(run_dir), status="failed", error=error.message[:2000])
        release(run_dir)
        raise error from exc


# ---------------------------------------------------------------------------------------------------
# writable output
# ---------------------------------------------------------------------------------------------------
def check_writable(output_dir: Path, where: str = "--output / output.dir") -> None:
    """Fail up front, in one paragraph, when run folders cannot be made in ``output_dir``.

    Nothing is left behind: the probe is made (and removed) in the output folder or, when it does not exist
    yet, in its nearest existing parent, so a run that stops on another error creates no folder."""
    import tempfile

    output_dir = Path(output_dir)
    existing = output_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file, not a folder")
        probe = Path(tempfile.mkdtemp(prefix=".kforge-write-test-", dir=existing))
        try:
            (probe / "probe").write_bytes(b"")
        finally:
            with contextlib.suppress(OSError):
                (probe / "probe").unlink()
            with contextlib.suppress(OSError):
                probe.rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KerasforgeError(
            f"the output folder {output_dir} cannot be written ({reason}), so no run folder can be made "
            "there and nothing was trained", where=where,
            fix="Choose a writable folder with `--output DIR` (or the recipe's output.dir), or make this "
                "one writable (a read-only mount, an immutable folder or a file in the path stops it).") from None


def rescue_dir(run_dir: Path) -> Path:
    """Where a model that could not be saved into its run folder is kept instead."""
    from .data.named_cache import cache_dir

    base = cache_dir()
    base = base.parent if base is not None else Path.home() / ".cache" / "kerasforge"
    return base / "rescued" / f"{Path(run_dir).name}-{time.strftime('%H%M%S')}"


def rescue_model(model, run_dir: Path, exc: OSError) -> KerasforgeError:
    """Save ``model`` outside ``run_dir`` (which cannot be written) and return the error that says where."""
    reason = exc.strerror or str(exc)
    kept = None
    for folder in (rescue_dir(run_dir), Path(os.environ.get("TMPDIR", "/tmp")) / f"kforge-rescued-{Path(run_dir).name}"):
        with contextlib.suppress(Exception):
            folder.mkdir(parents=True, exist_ok=True)
            model.save(folder / "model.keras")
            kept = folder / "model.keras"
            break
    saved = (f"the trained model was saved to {kept} instead" if kept
             else "the trained model could not be saved anywhere else either")
    return KerasforgeError(f"the run folder {run_dir} cannot be written any more ({reason}: "
                           f"{getattr(exc, 'filename', None) or run_dir}); {saved}", where=str(run_dir),
                           fix="Make the folder writable again (or free space), then load the model from "
                               "where it was kept, or train again with a writable --output.")


def is_write_error(exc: BaseException, run_dir: Path) -> bool:
    """True when ``exc`` is a failure to write into ``run_dir`` (read-only, immutable, full disk...)."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
        return True
    name = str(getattr(exc, "filename", "") or "")
    return name.startswith(str(run_dir))
