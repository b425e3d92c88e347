"""A run folder's life (issue 12): its owner, shown as interrupted once dead; killed in its first epoch;
two processes resuming it at once; an output folder that cannot be written, up front and mid-run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_helpers import kill_when, run, start, words, write_recipe

from kerasforge.cli import main
from kerasforge.lifecycle import LOCK_NAME, RunInUseError, claim, owner_alive, shown_status

HOLDER = """
import sys, time
from pathlib import Path
from kerasforge.lifecycle import claim
claim(Path(sys.argv[1]))
print("claimed", flush=True)
time.sleep(600)
"""


def _folder(tmp_path: Path, status: str = "running") -> Path:
    run_dir = tmp_path / "runs" / "r-1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": status}))
    return run_dir


def test_a_dead_owner_shows_interrupted_and_a_live_one_refuses_a_second_claim(tmp_path: Path):
    run_dir = _folder(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "claimed"
        assert owner_alive(run_dir) and shown_status(run_dir) == "running"
        with pytest.raises(RunInUseError) as caught:
            claim(run_dir, wait=0.2)
        assert f"process {holder.pid} on {socket.gethostname()}" in caught.value.message
        assert "--new" in caught.value.message
    finally:
        holder.kill()
        holder.wait()
    assert not owner_alive(run_dir) and shown_status(run_dir) == "interrupted"  # the kernel freed the lock
    claim(run_dir).release()  # and the folder can be taken again


def test_an_owner_on_another_host_is_judged_by_its_heartbeat(tmp_path: Path):
    run_dir = _folder(tmp_path)
    info = {"status": "running", "owner": {"pid": 1, "host": "elsewhere"}}
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / LOCK_NAME).write_text("")
    assert shown_status(run_dir) == "running"  # a fresh heartbeat
    old = time.time() - 3600
    os.utime(run_dir / LOCK_NAME, (old, old))
    assert shown_status(run_dir) == "interrupted"


@pytest.mark.slow
def test_a_run_killed_in_its_first_epoch_is_listed_interrupted_then_restarted_in_its_folder(tmp_path: Path, capsys):
    recipe = write_recipe(tmp_path, "first_epoch", epochs=2)
    out = tmp_path / "runs"
    proc = start(["train", str(recipe), "--output", str(out), "--no-track"], tmp_path)
    run_dir = kill_when(proc, out, "first_epoch", lambda d, info: info.get("status") == "running"
                        and "fast_path" in info)  # fitting, nothing of epoch 1 done yet
    assert not (run_dir / "history.json").exists() or not json.loads((run_dir / "history.json").read_text())

    assert main(["runs", "--output", str(out)]) == 0
    listing = capsys.readouterr().out
    assert run_dir.name in listing and "interrupted" in listing and "running" not in listing

    again = run(["train", str(recipe), "--output", str(out), "--no-track", "--wait"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"restarting {run_dir} from its first epoch" in words(again.stderr)
    assert [p.name for p in out.iterdir() if p.is_dir()] == [run_dir.name]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 2


@pytest.mark.slow
def test_two_processes_resuming_one_folder_one_resumes_and_the_other_says_it_trains_anew(tmp_path: Path):
    recipe = write_recipe(tmp_path, "twice", epochs=4)
    out = tmp_path / "runs"
    proc = start(["train", str(recipe), "--output", str(out), "--no-track"], tmp_path)
    run_dir = kill_when(proc, out, "twice", lambda d, info: (d / "checkpoints" / "resume.json").exists())

    both = [start(["train", str(recipe), "--output", str(out), "--no-track", "--wait"], tmp_path) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], [r[1][-2000:] for r in results]
    said = [words(err) for _, err in results]
    resumed = [s for s in said if f"resuming {run_dir}" in s]
    refused = [s for s in said if f"note: {run_dir} is in use by process" in s and "new run folder" in s]
    assert len(resumed) == 1 and len(refused) == 1, said
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    for folder in folders:
        info = json.loads((folder / "run.json").read_text())
        assert info["status"] == "finished" and info["epochs_done"] == 4
        assert json.loads((folder / "history.json").read_text())["epoch"] == [1, 2, 3, 4]


def _immutable(path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: no way to make a folder unwritable for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")


def _writable(path: Path) -> None:
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_an_unwritable_output_folder_is_one_paragraph_before_anything_is_loaded(tmp_path: Path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    _immutable(locked)
    try:
        started = time.monotonic()
        code = main(["train", str(write_recipe(tmp_path, "nowhere")), "--output", str(locked / "runs")])
        err = capsys.readouterr().err
    finally:
        _writable(locked)
    assert code == 2
    assert "cannot be written" in err and str(locked / "runs") in err and "--output" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - started < 30  # refused before data, model and training
    assert not (locked / "runs").exists()


@pytest.mark.slow
def test_a_run_folder_that_becomes_unwritable_mid_run_keeps_the_model_elsewhere(tmp_path: Path):
    recipe = write_recipe(tmp_path, "midway", epochs=30)
    out = tmp_path / "runs"
    proc = start(["train", str(recipe), "--output", str(out), "--no-track"], tmp_path)
    run_dir = None
    try:
        deadline = time.monotonic() + 240
        while run_dir is None and time.monotonic() < deadline and proc.poll() is None:
            for folder in out.glob("midway-*"):
                if (folder / "history.json").exists():
                    run_dir = folder
            time.sleep(0.02)
        assert run_dir is not None, proc.communicate()
        _immutable(run_dir)
        _, err = proc.communicate(timeout=300)
    finally:
        if run_dir is not None:
            _writable(run_dir)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err[-3000:]
    said = words(err)
    assert f"the run folder {run_dir} cannot be written any more" in said and "Traceback" not in said
    kept = Path(said.split("the trained model was saved to ")[1].split(" instead")[0])
    assert kept.is_file() and kept.name == "model.keras" and str(tmp_path / "cache") in str(kept)
