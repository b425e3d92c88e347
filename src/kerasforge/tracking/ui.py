"""``kforge ui``: MLflow's web UI over the local store of a runs folder, on a loopback address.

Example:
    >>> ui_command("sqlite:////tmp/runs/mlflow.db", port=5000)   # doctest: +SKIP
    ['/.../python', '-m', 'mlflow', 'ui', '--backend-store-uri', 'sqlite:////tmp/runs/mlflow.db', ...]
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading

from ..errors import KerasforgeError


def check_host(host: str, allow_remote: bool = False) -> None:
    """Refuse a non-loopback ``host`` (MLflow's UI has no login) unless ``allow_remote``.

    >>> check_host("127.0.0.1")
    """
    if allow_remote or is_loopback(host):
        return
    raise KerasforgeError(f"--host {host} would open the MLflow UI, which has no login, to other machines",
                          where="--host", fix="Use --host 127.0.0.1 (the default), or add --allow-remote if "
                          "the network is trusted.")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
    (True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ui_command(uri: str, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 1) -> list[str]:
    """The ``mlflow ui`` command line for the store ``uri``."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host,
            "--port", str(port), "--workers", str(workers)]


def check_port_free(host: str, port: int) -> None:
    """A clear error when something already listens on ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise KerasforgeError(f"port {port} on {host} is taken ({exc.strerror})", where="--port",
                                  fix="Choose another one, e.g. --port 5001.") from None


class _Terminated(Exception):
    """SIGTERM arrived: stop the UI like Ctrl-C."""


def run_ui(uri: str, *, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Run the MLflow UI in the foreground until Ctrl-C or SIGTERM; returns its exit code.

    MLflow's server runs in a process group of its own (it starts workers), and the whole group is stopped
    when ``kforge ui`` is interrupted or terminated, so no server is left listening.
    """
    check_port_free(host, port)
    process = subprocess.Popen(ui_command(uri, host=host, port=port), start_new_session=True)

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminated) if main_thread else None
    try:
        return process.wait()
    except (KeyboardInterrupt, _Terminated):
        return stop_group(process)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            stop_group(process)


def stop_group(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM to the process group of ``process`` (a session leader), SIGKILL after ``timeout`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()
