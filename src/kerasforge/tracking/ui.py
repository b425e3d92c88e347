"""``kforge ui``: MLflow's web UI over the local store of a runs folder, on a loopback address.

Example:
    >>> ui_command("sqlite:////tmp/runs/mlflow.db", port=5000)   # doctest: +SKIP
    ['/.../python', '-m', 'mlflow', 'ui', '--backend-store-uri', 'sqlite:////tmp/runs/mlflow.db', ...]
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys

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


def run_ui(uri: str, *, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Run the MLflow UI in the foreground until Ctrl-C; returns its exit code."""
    check_port_free(host, port)
    process = subprocess.Popen(ui_command(uri, host=host, port=port))
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
