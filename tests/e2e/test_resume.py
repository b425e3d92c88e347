"""Killing `kforge train` with SIGKILL mid-epoch loses nothing: the same command resumes from the last
finished epoch and completes with the same number of epochs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

EPOCHS = 4  # killed in the third: two left to resume
RECIPE = {
    "name": "resumable",
    "backend": "tensorflow",  # a dense network would train on JAX, whose scanned epochs end before the kill
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 64, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": EPOCHS, "batch_size": 2},  # small batches: epochs long enough to be killed inside
}


def kforge_train(recipe: Path, out: Path) -> subprocess.Popen:
    kforge = Path(sys.executable).with_name("kforge")
    env = {**os.environ, "KFORGE_OFFLINE": "1"}
    return subprocess.Popen([str(kforge), "train", str(recipe), "--output", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def epochs_on_disk(out: Path) -> int:
    for history in out.glob("resumable-*/history.json"):
        try:
            return len(json.loads(history.read_text()).get("epoch", []))
        except ValueError:
            return 0
    return 0


def test_sigkill_mid_epoch_then_resume(tmp_path: Path):
    recipe = tmp_path / "resumable.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "runs"

    first = kforge_train(recipe, out)
    deadline = time.monotonic() + 240
    while epochs_on_disk(out) < 2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None, f"training ended before it could be killed: {first.communicate()}"
    time.sleep(0.3)  # inside the third epoch
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    (run_dir,) = list(out.glob("resumable-*"))
    killed_at = json.loads((run_dir / "checkpoints" / "resume.json").read_text())["epochs_done"]
    assert 2 <= killed_at < EPOCHS
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    second = kforge_train(recipe, out)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    assert f"resuming {run_dir} after epoch {killed_at}" in " ".join(stderr.split())
    assert [p.name for p in out.iterdir()] == [run_dir.name]  # the same run folder, no new one
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == EPOCHS
    assert (run_dir / "model.keras").is_file()
    assert "test_accuracy" in stdout
