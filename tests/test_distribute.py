"""Scale-out on the existing engines: data parallelism over several XLA host devices through Keras'
distribution API, and two processes on 127.0.0.1 joined by ``jax.distributed``, on the real digits data.

Each training run is a subprocess: the number of XLA host devices is fixed when JAX starts, and
Keras' backend when it is first imported.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kerasforge import backend
from kerasforge.distribute import DistributionSpec, check_batch_size
from kerasforge.errors import KerasforgeError

TIMEOUT = 240
RECIPE = {
    "name": "digits_dp", "seed": 42,
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 64, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"optimizer": "adam", "epochs": 5, "batch_size": 32, "validation_split": 0.1},
    "output": {"formats": ["keras"]},
}

# Trains through the Python API with a callback that looks at the distribution while it is in force.
PROBE = r"""
import json, sys
import keras, numpy as np
import kerasforge

class Probe(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        import jax
        layout = keras.distribution.distribution().get_data_layout((32, 64)).backend_layout
        batch = jax.device_put(np.zeros((32, 64), "float32"), layout)
        kernel = self.model.trainable_variables[0].value
        seen.update(spec=str(layout.spec), mesh_devices=int(layout.mesh.devices.size),
                    shard_rows=sorted(int(s.data.shape[0]) for s in batch.addressable_shards),
                    kernel_devices=len(kernel.sharding.device_set))

seen = {}
run = kerasforge.train(sys.argv[1], output_dir=sys.argv[2], devices="all", callbacks=[Probe()],
                       show_summary=False)
seen.update(metrics=run.metrics, path=str(run.path), distribution_after=str(keras.distribution.distribution()))
if len(sys.argv) > 3:  # then the same recipe on one device (of the four), for its accuracy
    seen["single_metrics"] = kerasforge.train(sys.argv[1], output_dir=sys.argv[3], show_summary=False).metrics
print("PROBE " + json.dumps(seen))
"""


def recipe_file(tmp_path: Path, **train) -> Path:
    data = json.loads(json.dumps(RECIPE))
    data["train"].update(train)
    path = tmp_path / "digits_dp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def environment(host_devices: int = 4, backend_name: str | None = "jax") -> dict[str, str]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={host_devices}",
           "KFORGE_OFFLINE": "1", "KFORGE_NO_TRACK": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("KERAS_BACKEND", "KFORGE_PROCESS_ID", "KFORGE_NUM_PROCESSES", "KFORGE_COORDINATOR"):
        env.pop(name, None)
    if backend_name:
        env["KERAS_BACKEND"] = backend_name
    return env


def kforge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kerasforge.cli", "train", *args, "--quiet"], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def metrics_of(stdout: str) -> dict[str, float]:
    return {k: float(v) for k, v in (line.split(": ", 1) for line in stdout.splitlines()
                                     if line.startswith("test_"))}


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kforge")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------
# one process, four XLA host devices
# ---------------------------------------------------------------------------------------------------
def test_devices_all_splits_each_batch_over_four_devices_with_one_device_accuracy(tmp_path: Path):
    recipe = recipe_file(tmp_path)
    probe = subprocess.run([sys.executable, "-c", PROBE, str(recipe), str(tmp_path / "runs4"), str(tmp_path / "runs1")],
                           env=environment(4), capture_output=True, text=True, timeout=TIMEOUT)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(next(line for line in probe.stdout.splitlines() if line.startswith("PROBE "))[6:])
    assert seen["mesh_devices"] == 4 and seen["spec"] in ("P('batch', None)", "PartitionSpec('batch', None)")
    assert seen["shard_rows"] == [8, 8, 8, 8]  # a batch of 32 rows: 8 on each device
    assert seen["kernel_devices"] == 4  # the weights are replicated on all four
    assert seen["distribution_after"] == "None"  # evaluated and saved on one device afterwards
    run_info = json.loads((Path(seen["path"]) / "run.json").read_text())
    assert run_info["status"] == "finished" and run_info["distribution"]["devices"] == 4
    assert (Path(seen["path"]) / "model.keras").is_file()

    # one device, trained in the same process after the distribution was lifted (a process start saved)
    (single,) = [p for p in (tmp_path / "runs1").iterdir() if (p / "run.json").is_file()]
    assert "distribution" not in json.loads((single / "run.json").read_text())
    one, four = seen["single_metrics"]["test_accuracy"], seen["metrics"]["test_accuracy"]
    assert one > 0.8 and four > 0.8, (one, four)  # chance is 0.1
    assert abs(one - four) < 0.04, (one, four)


def test_batch_size_that_does_not_split_over_the_devices_is_a_one_line_error(tmp_path: Path):
    result = kforge(str(recipe_file(tmp_path, batch_size=30)), "--output", str(tmp_path / "runs"),
                    "--devices", "all", env=environment(4))
    message = one_error_line(result)
    assert "train.batch_size" in message and "4 devices" in message and "28 or 32" in message
    assert not (tmp_path / "runs").exists()


def test_devices_with_the_tensorflow_backend_asked_for_is_a_clear_error(tmp_path: Path):
    result = kforge(str(recipe_file(tmp_path)), "--output", str(tmp_path / "runs"), "--devices", "all",
                    "--set", "backend=tensorflow", env=environment(4, backend_name=None))
    message = one_error_line(result)
    assert message.startswith("kforge: error: --devices:") and "JAX backend" in message
    assert "backend=jax" in message and "tensorflow" in message
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------------
# two processes on 127.0.0.1, two XLA host devices each
# ---------------------------------------------------------------------------------------------------
def test_two_processes_train_together_and_only_process_zero_writes_the_run(tmp_path: Path):
    recipe, out, port = recipe_file(tmp_path), tmp_path / "runs", free_port()
    logs = [(tmp_path / f"out{i}.txt", tmp_path / f"err{i}.txt") for i in (0, 1)]
    procs = []
    for i, (stdout, stderr) in enumerate(logs):  # files, not pipes: a full pipe would stall both processes
        with stdout.open("w") as o, stderr.open("w") as e:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kerasforge.cli", "train", str(recipe), "--quiet", "--output", str(out),
                 "--num-processes", "2", "--process-id", str(i), "--coordinator", f"127.0.0.1:{port}"],
                env=environment(2), stdout=o, stderr=e, text=True))
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, stderr) in zip(procs, logs, strict=True):
        assert p.returncode == 0, stderr.read_text()[-3000:]
    chief_out, worker_out = (stdout.read_text() for stdout, _ in logs)
    runs = [d for d in out.iterdir() if d.is_dir()]
    assert len(runs) == 1, runs
    assert f"run: {runs[0]}" in chief_out and "run:" not in worker_out and "process 1" in worker_out
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["distribution"] == {"devices": 4, "local_devices": 2, "process_count": 2, "chief_process": 0}
    accuracy = json.loads((runs[0] / "metrics.json").read_text())["test_accuracy"]
    assert accuracy > 0.8, accuracy
    assert metrics_of(chief_out)["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)


# ---------------------------------------------------------------------------------------------------
# the checks that need no training
# ---------------------------------------------------------------------------------------------------
def test_asking_for_devices_picks_jax_unless_another_backend_is_named(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.pick_backend("auto", distributed=True) == "jax"
    assert backend.pick_backend("tensorflow", distributed=True) == "tensorflow"  # refused later, clearly


def test_batch_size_check_names_the_nearest_valid_sizes():
    check_batch_size(64, 4)
    with pytest.raises(KerasforgeError, match=r"train.batch_size: 6 does not split evenly over 4 devices.*4 or 8"):
        check_batch_size(6, 4)
    with pytest.raises(KerasforgeError, match=r"batch_size=8 \(8 are the nearest\)|8 are the nearest"):
        check_batch_size(3, 8)


def test_multi_process_arguments_are_checked_before_anything_starts(monkeypatch):
    for name in ("KFORGE_PROCESS_ID", "KFORGE_NUM_PROCESSES", "KFORGE_COORDINATOR"):
        monkeypatch.delenv(name, raising=False)
    assert not DistributionSpec().active
    with pytest.raises(KerasforgeError, match="--process-id"):
        DistributionSpec(num_processes=2, coordinator="127.0.0.1:1234").resolved()
    with pytest.raises(KerasforgeError, match="out of range"):
        DistributionSpec(num_processes=2, process_id=2, coordinator="127.0.0.1:1234").resolved()
    with pytest.raises(KerasforgeError, match="--coordinator"):
        DistributionSpec(num_processes=2, process_id=1, coordinator="127.0.0.1").resolved()
    with pytest.raises(KerasforgeError, match="--devices"):
        DistributionSpec(devices="two").resolved()
    monkeypatch.setenv("KFORGE_PROCESS_ID", "1")
    monkeypatch.setenv("KFORGE_COORDINATOR", "10.0.0.1:12355")
    spec = DistributionSpec(num_processes=2).resolved()
    assert (spec.process_id, spec.coordinator, spec.devices) == (1, "10.0.0.1:12355", "all")


def test_two_processes_each_stream_half_of_each_epoch(tmp_path: Path):
    recipe, out, port = tmp_path / "digits_stream.yaml", tmp_path / "runs", free_port()
    data = json.loads(json.dumps(RECIPE))
    data["data"]["stream"] = True
    data["train"]["epochs"] = 2
    recipe.write_text(yaml.safe_dump(data))
    logs = [(tmp_path / f"out{i}.txt", tmp_path / f"err{i}.txt") for i in (0, 1)]
    procs = []
    for i, (stdout, stderr) in enumerate(logs):
        with stdout.open("w") as o, stderr.open("w") as e:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kerasforge.cli", "train", str(recipe), "--output", str(out),
                 "--num-processes", "2", "--process-id", str(i), "--coordinator", f"127.0.0.1:{port}"],
                env=environment(2), stdout=o, stderr=e, text=True))
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    texts = [stdout.read_text() + stderr.read_text() for stdout, stderr in logs]
    for p, text in zip(procs, texts, strict=True):
        assert p.returncode == 0, text[-3000:]
    import re

    counts = [re.search(r"streaming (\d+) of (\d+) training examples per epoch", t) for t in texts]
    assert all(counts), texts[0][-2000:]
    per_process = [int(m.group(1)) for m in counts]
    total = json.loads((next(d for d in out.iterdir() if d.is_dir()) / "data.json").read_text())["sizes"]["train"]
    assert per_process[0] == per_process[1] and total - 4 <= 2 * per_process[0] <= total  # about half each
    # ... of every epoch's permutation of the whole split (not a fixed half of the rows)
    assert [int(m.group(2)) for m in counts] == [total, total] and all("shard 2 of 2" in t for t in texts[1:])
    info = json.loads((next(d for d in out.iterdir() if d.is_dir()) / "run.json").read_text())
    assert info["status"] == "finished" and info["data_path"]["stream"] is True
    assert json.loads((next(d for d in out.iterdir() if d.is_dir()) / "metrics.json").read_text())["test_accuracy"] > 0.7
