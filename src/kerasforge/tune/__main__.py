"""A tuning worker process: ``python -m kerasforge.tune CONFIG.json [PARENT_PID]``.

``kforge tune --workers K`` starts K-1 of these beside itself; given the parent's pid, a worker ends
when that process ends (Linux), so a killed search leaves no workers behind.

Example::

    python -m kerasforge.tune runs/tune/digits.worker-1.json 12345
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def _end_with(parent: int) -> None:
    """Linux: ask the kernel to kill this process when ``parent`` ends (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request above was in place
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        _end_with(int(sys.argv[2]))
    from .worker import main

    sys.exit(main(sys.argv[1:2]))
