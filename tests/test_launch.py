"""Launching on real schedulers: Slurm, Kubernetes Indexed Jobs and Open MPI, read from their own
environment variables. The examples shipped in docs/launch/ are parsed here and run as two processes on
127.0.0.1 with the environment their scheduler would give each process."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kerasforge.distribute import DistributionSpec
from kerasforge.errors import KerasforgeError
from kerasforge.launch import detect, first_host

DOCS = Path(__file__).resolve().parents[1] / "docs" / "launch"
CLEAN = ("KFORGE_NUM_PROCESSES", "KFORGE_PROCESS_ID", "KFORGE_COORDINATOR", "KFORGE_COORDINATOR_PORT",
         "KFORGE_K8S_SERVICE", "KFORGE_K8S_JOB", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_NPROCS",
         "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_JOB_ID", "JOB_COMPLETION_INDEX", "OMPI_COMM_WORLD_RANK",
         "OMPI_COMM_WORLD_SIZE", "KERAS_BACKEND")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------
# the docs' examples, read as their scheduler reads them: (process count, env per process, kforge args)
# ---------------------------------------------------------------------------------------------------
def slurm_example() -> tuple[int, list[dict[str, str]], list[str]]:
    text = (DOCS / "slurm.sbatch").read_text()
    tasks = int(re.search(r"^#SBATCH --ntasks=(\d+)$", text, re.M).group(1))
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", text, re.M))
    command = shlex.split(re.search(r"^srun (kforge .*)$", text, re.M).group(1))
    envs = [{**exports, "SLURM_PROCID": str(i), "SLURM_NTASKS": str(tasks), "SLURM_JOB_ID": "4242",
             "SLURM_JOB_NODELIST": "localhost,node[2-9]"} for i in range(tasks)]  # the first node: this machine
    return tasks, envs, command[1:]


def kubernetes_example() -> tuple[int, list[dict[str, str]], list[str]]:
    job = next(d for d in yaml.safe_load_all((DOCS / "kubernetes-indexed-job.yaml").read_text()) if d["kind"] == "Job")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert spec["completionMode"] == "Indexed"
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    envs = [{**env, "JOB_COMPLETION_INDEX": str(i), "HOSTNAME": f"{job['metadata']['name']}-{i}"}
            for i in range(spec["completions"])]  # Kubernetes names an Indexed Job's pods <job>-<index>
    return spec["completions"], envs, container["command"][1:]


def mpirun_example() -> tuple[int, list[dict[str, str]], list[str]]:
    line = next(line for line in (DOCS / "mpirun.sh").read_text().splitlines() if line.startswith("mpirun "))
    words = shlex.split(line)
    count = int(words[words.index("-np") + 1])
    exported = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-x")
    command = words[words.index("kforge"):]
    envs = [{**exported, "OMPI_COMM_WORLD_RANK": str(i), "OMPI_COMM_WORLD_SIZE": str(count)} for i in range(count)]
    return count, envs, command[1:]


EXAMPLES = {"slurm": slurm_example, "kubernetes": kubernetes_example, "mpirun": mpirun_example}


@pytest.mark.parametrize("scheduler", sorted(EXAMPLES))
def test_each_examples_environment_maps_to_the_processes_and_coordinator(scheduler, monkeypatch):
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    count, envs, _ = EXAMPLES[scheduler]()
    expected = {"slurm": "localhost:28484",  # 20000 + 2 * (4242 mod 5000)
                "kubernetes": "kforge-digits-0.kforge-digits:12355", "mpirun": "node01:12355"}[scheduler]
    for index, env in enumerate(envs):
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            spec = DistributionSpec().resolved()
        assert (spec.processes, spec.process_id, spec.coordinator) == (count, index, expected)
    assert count == 2


def test_slurm_node_lists_and_what_the_flags_override(monkeypatch):
    assert first_host("node[01-04],gpu7") == "node01"
    assert first_host("gpu7,node[01-04]") == "gpu7"
    assert first_host("rack1-[003,007-009]") == "rack1-003"
    assert first_host("c[10-11]-ib,c12-ib") == "c10-ib"
    with pytest.raises(KerasforgeError, match="SLURM_JOB_NODELIST"):
        first_host("[")
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_JOB_NODELIST": "n[1-4]", "KFORGE_COORDINATOR_PORT": "9"}
    assert detect(env).coordinator == "n1:9"
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = DistributionSpec(process_id=1, coordinator="10.0.0.1:5").resolved()  # flags win
    assert (spec.processes, spec.process_id, spec.coordinator) == (4, 1, "10.0.0.1:5")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    monkeypatch.delenv("SLURM_PROCID")
    monkeypatch.setenv("HOSTNAME", "not-an-indexed-pod")
    monkeypatch.setenv("KFORGE_K8S_SERVICE", "svc")
    with pytest.raises(KerasforgeError, match="KFORGE_K8S_JOB"):
        detect()


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", [pytest.param(s, marks=[pytest.mark.full] if s != "slurm" else [])
                                       for s in sorted(EXAMPLES)])  # each trains 2 processes: one in the default set
def test_each_example_trains_as_two_processes_on_this_machine(scheduler, tmp_path):
    count, envs, args = EXAMPLES[scheduler]()
    port = free_port()
    procs = []
    for i, scheduler_env in enumerate(envs):
        env = {k: v for k, v in os.environ.items() if k not in CLEAN}
        env.update(scheduler_env, XLA_FLAGS="--xla_force_host_platform_device_count=2", KFORGE_OFFLINE="1",
                   KFORGE_NO_TRACK="1", TF_CPP_MIN_LOG_LEVEL="2", KFORGE_COORDINATOR_PORT=str(port),
                   KFORGE_PEER_PORT=str(free_port() if i == 0 else procs[0][1]))
        if scheduler == "kubernetes":  # the cluster's DNS would resolve kforge-digits-0.kforge-digits
            env["KFORGE_COORDINATOR"] = f"127.0.0.1:{port}"
        if scheduler == "mpirun":  # node01 of the hostfile is this machine
            env["KFORGE_COORDINATOR"] = env["KFORGE_COORDINATOR"].replace("node01", "127.0.0.1").rsplit(":", 1)[0] \
                + f":{port}"
        with (tmp_path / f"out{i}.txt").open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "kerasforge.cli", *args, "--output",
                                     str(tmp_path / "runs"), "--set", "train.epochs=1", "--quiet"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        procs.append((proc, env["KFORGE_PEER_PORT"]))
    try:
        codes = [p.wait(timeout=300) for p, _ in procs]
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0] * count, [(tmp_path / f"out{i}.txt").read_text()[-2000:] for i in range(count)]
    runs = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert len(runs) == 1
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["status"] == "finished" and info["distribution"]["process_count"] == count
    assert info["distribution"]["devices"] == 2 * count


def test_a_tuning_trial_inside_a_scheduler_job_stays_one_process(monkeypatch):
    """`kforge tune` run by srun/mpirun: each task is a tuning machine, its trials single-process runs."""
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    for key, value in {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n[1-2]"}.items():
        monkeypatch.setenv(key, value)
    assert DistributionSpec().active  # `kforge train` joins the job's 2-process run
    assert not DistributionSpec(num_processes=1).active  # what a trial asks for
