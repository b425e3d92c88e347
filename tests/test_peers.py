"""A multi-process run that loses a process: the survivor stops cleanly, and the same command resumes.

Two `kforge train` processes on 127.0.0.1 (two XLA host devices each, JAX distributed), the real digits
data. A recipe callback kills one with SIGKILL in the middle of an epoch (``kill -9``, at a known batch);
the survivor must leave within 30 s with one ``kforge: error:`` line naming the lost process, exit with
code 75, mark the run failed and leave no scratch folder. Rerunning the same command resumes from the
chief's last finished epoch, identically on both processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kerasforge.peers import EXIT_PEER_LOST, PeerWatch, peer_address

RECIPE = {
    "name": "digits_peers", "seed": 7,
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"optimizer": "adam", "epochs": 3, "batch_size": 32, "validation_split": 0.1,
              "callbacks": [{"type": "peer_hooks:Kill"}, {"type": "peer_hooks:Digest"}]},
    "output": {"formats": ["keras"]},
}

# Two test callbacks, next to the recipe: one kills with SIGKILL, at (epoch, batch) of one process, the
# `kforge train` command ("command": the whole process) or only its training process ("training"); one
# writes a digest of the final weights of each process.
HOOKS = r"""
import hashlib, os, signal, time
import jax, keras, numpy as np

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
    def on_train_batch_end(self, batch, logs=None):
        if not os.environ.get("TEST_KILL_AT"):
            return
        who, epoch, at, what = os.environ["TEST_KILL_AT"].split(":")
        if int(who) == jax.process_index() and self.epoch == int(epoch) and batch == int(at):
            open(os.environ["TEST_REPORT"] + ".killed", "w").write(str(time.time()))
            os.kill(os.getppid() if what == "command" else os.getpid(), signal.SIGKILL)

class Digest(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        data = b"".join(np.asarray(v.value).tobytes() for v in self.model.weights)
        open(f"{os.environ['TEST_REPORT']}{jax.process_index()}", "w").write(hashlib.sha256(data).hexdigest())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path: Path, attempt: str, kill_at: str | None, ports: tuple[int, int]) -> tuple[list, list[Path]]:
    """Start the same `kforge train` command as two processes; returns them and their stderr files."""
    recipe = tmp_path / "digits_peers.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    (tmp_path / "peer_hooks.py").write_text(HOOKS)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "KERAS_BACKEND": "jax",
           "KFORGE_OFFLINE": "1", "KFORGE_NO_TRACK": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "TMPDIR": str(tmp_path / "tmp"), "KFORGE_PEER_PORT": str(ports[1]),
           "TEST_REPORT": str(tmp_path / f"{attempt}-weights")}
    env.pop("TEST_KILL_AT", None)
    if kill_at:
        env["TEST_KILL_AT"] = kill_at
    procs, errs = [], []
    for i in (0, 1):  # output to files, not pipes: a full pipe would stall both processes
        err = tmp_path / f"{attempt}-err{i}.txt"
        with (tmp_path / f"{attempt}-out{i}.txt").open("w") as o, err.open("w") as e:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kerasforge.cli", "train", str(recipe), "--quiet", "--output",
                 str(tmp_path / "runs"), "--num-processes", "2", "--process-id", str(i),
                 "--coordinator", f"127.0.0.1:{ports[0]}"], env=env, stdout=o, stderr=e))
        errs.append(err)
    return procs, errs


def wait_all(procs: list, timeout: float = 300) -> list[int]:
    try:
        return [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def the_run(tmp_path: Path) -> tuple[Path, dict]:
    runs = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert len(runs) == 1, runs
    return runs[0], json.loads((runs[0] / "run.json").read_text())


def survivor_stops(tmp_path: Path, attempt: str, kill_at: str, ports: tuple[int, int]) -> str:
    """Run until one process kills itself; check how the other one stopped; returns its message."""
    victim = int(kill_at.split(":")[0])
    procs, errs = launch(tmp_path, attempt, kill_at, ports)
    codes = wait_all(procs)
    survivor = 1 - victim
    stopped_after = time.time() - float((tmp_path / f"{attempt}-weights.killed").read_text())  # an upper bound
    stderr = errs[survivor].read_text()
    assert codes[survivor] == EXIT_PEER_LOST, (codes, stderr[-3000:])
    assert codes[victim] in (-9, EXIT_PEER_LOST), codes
    assert stopped_after < 30, stopped_after
    lines = [line for line in stderr.splitlines() if line.startswith("kforge")]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert not list((tmp_path / "tmp").glob("kforge-*")), list((tmp_path / "tmp").iterdir())
    _, info = the_run(tmp_path)
    assert info["status"] == "failed", info
    assert f"process {victim}" in info["error"], info["error"]
    return lines[0]


@pytest.mark.slow
def test_a_killed_worker_or_chief_stops_the_other_cleanly_and_the_same_command_resumes(tmp_path: Path):
    (tmp_path / "tmp").mkdir()
    ports = (free_port(), free_port())
    # 1. `kill -9` of the worker's command in epoch 2: the chief names it and marks the run failed
    message = survivor_stops(tmp_path, "a", "1:2:10:command", ports)
    assert message.startswith("kforge: error: process 1 (host ") and "was lost" in message, message
    assert "during epoch 2" in message and "resume it after epoch 1" in message, message

    # 2. the same command resumes after epoch 1; now the chief's training process is killed in epoch 3
    message = survivor_stops(tmp_path, "b", "0:3:10:training", ports)
    assert message.startswith("kforge: error: process 0 of 2 was killed by signal SIGKILL"), message
    assert "marked failed" in message and "resume it after epoch 2" in message, message
    run_dir, info = the_run(tmp_path)
    assert json.loads((run_dir / "checkpoints" / "resume.json").read_text())["epochs_done"] == 2

    # 3. the same command again: resumes after epoch 2, ends with the recipe's 3 epochs, same weights everywhere
    procs, errs = launch(tmp_path, "c", None, ports)
    codes = wait_all(procs)
    assert codes == [0, 0], [e.read_text()[-3000:] for e in errs]
    run_dir, info = the_run(tmp_path)
    assert info["status"] == "finished" and info["epochs_done"] == 3, info
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [1, 2, 3]
    chief, worker = ((tmp_path / f"c-weights{i}").read_text() for i in (0, 1))
    assert chief == worker, "the processes ended with different weights"
    assert not list((tmp_path / "tmp").glob("kforge-*"))


# ---------------------------------------------------------------------------------------------------
# the liveness channel alone (threads in this process, no JAX)
# ---------------------------------------------------------------------------------------------------
def test_peer_address_is_the_coordinator_port_plus_one_unless_set(monkeypatch):
    monkeypatch.delenv("KFORGE_PEER_PORT", raising=False)
    assert peer_address("10.0.0.1:12355") == ("10.0.0.1", 12356)
    assert peer_address("[::1]:80") == ("::1", 81)
    monkeypatch.setenv("KFORGE_PEER_PORT", "5000")
    assert peer_address("10.0.0.1:12355") == ("10.0.0.1", 5000)


def test_a_silent_peer_is_lost_after_the_timeout_and_a_finished_one_is_not(tmp_path: Path):
    port = free_port()
    lost: list[tuple[int, str]] = []
    chief = PeerWatch(0, 3, ("127.0.0.1", port), timeout=2, on_lost=lambda r: lost.append((0, r))).start()
    one = PeerWatch(1, 3, ("127.0.0.1", port), timeout=2, on_lost=lambda r: lost.append((1, r))).start()
    # process 2 connects by hand, says hello, then goes silent (a machine that dropped off the network)
    silent = socket.create_connection(("127.0.0.1", port))
    silent.sendall(f"HELLO 2 {socket.gethostname()} 4242\n".encode())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    chief.attach(run_dir=run_dir)
    deadline = time.time() + 10
    while len(lost) < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert sorted(who for who, _ in lost) == [0, 1], lost
    assert all(reason.startswith("process 2 (host ") and "sent nothing for 2 s" in reason for _, reason in lost)
    assert one.run_dir == run_dir.resolve()  # the chief told it where the run folder is
    silent.close()

    lost.clear()  # a peer that says DONE before leaving is not lost
    port = free_port()
    chief = PeerWatch(0, 2, ("127.0.0.1", port), timeout=2, on_lost=lambda r: lost.append((0, r))).start()
    one = PeerWatch(1, 2, ("127.0.0.1", port), timeout=2, on_lost=lambda r: lost.append((1, r))).start()
    time.sleep(1.5)
    one.finish()
    time.sleep(0.3)
    one._peers[0].sock.close()  # the worker's process ends
    time.sleep(3)
    assert lost == [], lost
    chief.finish()
