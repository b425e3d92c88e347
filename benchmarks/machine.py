"""What every benchmark records about where it ran: the machine and the versions of the packages it timed.

Example:
    >>> from machine import describe_machine, package_versions   # doctest: +SKIP
    >>> describe_machine()["cores"] >= 1, "numpy" in package_versions("numpy")   # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any


def package_versions(*names: str) -> dict[str, str | None]:
    """Each installed distribution's version (``None`` when it is not installed)."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in names}


def describe_machine(**extra: Any) -> dict[str, Any]:
    """CPU model, cores, memory, platform, Python and the load average now (before the measurement), plus
    ``extra`` fields."""
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    memory = None
    with contextlib.suppress(OSError, StopIteration, ValueError):
        memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal:"))) * 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory, "platform": platform.platform(),
            "python": platform.python_version(), **extra, "load_average_before": list(os.getloadavg())}
