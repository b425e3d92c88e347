"""Where a multi-process run learns its place from the scheduler that started it: Slurm, Kubernetes
Indexed Jobs and Open MPI, read directly (like ``jax.distributed``'s auto-detection), so the same plain
``kforge train RECIPE`` runs under each. ``--num-processes``/``--process-id``/``--coordinator`` and
``$KFORGE_NUM_PROCESSES``/``$KFORGE_PROCESS_ID``/``$KFORGE_COORDINATOR`` always win.

========================  ====================  ========================  ======================================
scheduler                 process id            process count             coordinator (process 0's host:port)
========================  ====================  ========================  ======================================
Slurm (``srun``)          ``SLURM_PROCID``      ``SLURM_NTASKS``          first host of ``SLURM_JOB_NODELIST``
Kubernetes Indexed Job    ``JOB_COMPLETION_     ``KFORGE_NUM_PROCESSES``  ``<job>-0.<KFORGE_K8S_SERVICE>``
                          INDEX``               (= ``completions``)       (pod ``<job>-0`` of the headless service)
Open MPI (``mpirun``)     ``OMPI_COMM_WORLD_    ``OMPI_COMM_WORLD_SIZE``  ``KFORGE_COORDINATOR`` (``mpirun -x``)
                          RANK``
========================  ====================  ========================  ======================================

The port is ``$KFORGE_COORDINATOR_PORT`` when set, else 12355 (Slurm: ``20000 + 2 × (job id mod 5000)``,
so that two jobs sharing a node do not collide; kerasforge's liveness channel takes the port after it).
Examples ready to copy are in ``docs/launch/`` (and are the files the tests run).

Example:
    >>> detect({"SLURM_PROCID": "1", "SLURM_NTASKS": "4", "SLURM_JOB_NODELIST": "gpu[07-10]",
    ...         "SLURM_JOB_ID": "4242"})
    Launch(source='Slurm', num_processes=4, process_id=1, coordinator='gpu07:28484')
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import KerasforgeError

ENV_PORT = "KFORGE_COORDINATOR_PORT"
ENV_K8S_SERVICE = "KFORGE_K8S_SERVICE"
DEFAULT_PORT = 12355


@dataclass(frozen=True)
class Launch:
    """What the scheduler says about this process (``None``: it does not say)."""

    source: str
    num_processes: int | None = None
    process_id: int | None = None
    coordinator: str | None = None


def detect(environ: Mapping[str, str] | None = None) -> Launch | None:
    """The launch settings of the scheduler this process runs under, or ``None`` outside one.

    >>> detect({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "KFORGE_COORDINATOR": "h:1"})
    Launch(source='Open MPI', num_processes=2, process_id=0, coordinator=None)
    >>> detect({}) is None
    True
    """
    env = os.environ if environ is None else environ
    if "SLURM_PROCID" in env and ("SLURM_NTASKS" in env or "SLURM_NPROCS" in env):
        nodes = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
        first = first_host(nodes, where="SLURM_JOB_NODELIST") if nodes else None
        return Launch("Slurm", _int(env.get("SLURM_NTASKS") or env["SLURM_NPROCS"], "SLURM_NTASKS"),
                      _int(env["SLURM_PROCID"], "SLURM_PROCID"),
                      f"{first}:{_port(env, slurm_job=env.get('SLURM_JOB_ID'))}" if first else None)
    if "JOB_COMPLETION_INDEX" in env:
        service = env.get(ENV_K8S_SERVICE)
        coordinator = None
        if service:
            job = env.get("KFORGE_K8S_JOB") or _job_of_pod(env.get("HOSTNAME") or socket.gethostname(),
                                                            env["JOB_COMPLETION_INDEX"])
            coordinator = f"{job}-0.{service}:{_port(env)}"
        return Launch("Kubernetes Indexed Job", None, _int(env["JOB_COMPLETION_INDEX"], "JOB_COMPLETION_INDEX"),
                      coordinator)
    if "OMPI_COMM_WORLD_RANK" in env and "OMPI_COMM_WORLD_SIZE" in env:
        return Launch("Open MPI", _int(env["OMPI_COMM_WORLD_SIZE"], "OMPI_COMM_WORLD_SIZE"),
                      _int(env["OMPI_COMM_WORLD_RANK"], "OMPI_COMM_WORLD_RANK"), None)
    return None


def first_host(nodelist: str, where: str = "SLURM_JOB_NODELIST") -> str:
    """The first host of a Slurm node list (``scontrol show hostnames`` without Slurm).

    >>> first_host("node[01-04],gpu7"), first_host("gpu7,node[01-04]"), first_host("a[3,5-6]-ib")
    ('node01', 'gpu7', 'a3-ib')
    """
    text = nodelist.strip()
    match = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?([^,]*)", text)
    if not text or not match or not (match.group(1) or match.group(2)):
        raise KerasforgeError(f"cannot read the first host of the node list {nodelist!r}", where=where,
                              fix="Give a Slurm node list such as node[01-04],gpu7, or set KFORGE_COORDINATOR=host:port.")
    prefix, ranges, suffix = match.group(1), match.group(2), match.group(3)
    if ranges is None:
        return prefix + suffix
    first = ranges.split(",")[0].split("-")[0].strip()
    return f"{prefix}{first}{suffix}"


def _job_of_pod(hostname: str, index: str) -> str:
    """An Indexed Job's pod is named ``<job>-<index>`` (its hostname with a headless-service subdomain)."""
    host = hostname.split(".")[0]
    suffix = f"-{index}"
    if not host.endswith(suffix):
        raise KerasforgeError(
            f"this pod's hostname {hostname!r} is not '<job name>-{index}', so process 0's address cannot be derived",
            where="KFORGE_K8S_SERVICE",
            fix="Run in an Indexed Job with `subdomain:` set to the headless service, or set KFORGE_K8S_JOB (the "
                "job's name) or KFORGE_COORDINATOR=host:port.")
    return host[: -len(suffix)]


def _port(env: Mapping[str, str], slurm_job: str | None = None) -> int:
    if env.get(ENV_PORT):
        return _int(env[ENV_PORT], ENV_PORT)
    if slurm_job and slurm_job.isdigit():
        return 20000 + 2 * (int(slurm_job) % 5000)
    return DEFAULT_PORT


def _int(value: str, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise KerasforgeError(f"{name} is {value!r}, not a whole number", where=name,
                              fix="Start kforge through the scheduler as documented in docs/multi-node.md, or "
                                  "set KFORGE_NUM_PROCESSES/KFORGE_PROCESS_ID/KFORGE_COORDINATOR yourself.") from None
