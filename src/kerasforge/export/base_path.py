"""TF Serving's versioned layout: an export written as ``<base>/<version>/`` (the next free version number).

TF Serving (and ``kforge serve BASE``) serve every numbered folder of a base path and pick new ones up
while running. A SavedModel goes in as TF Serving expects it (``<base>/<version>/saved_model.pb``,
``variables/``); the other formats keep their artifact file. The model card rides along (with
``version``). The folder is assembled under a hidden name and renamed into place in one step, so a
server polling the base path never sees half a version.

Example:
    >>> write_version(Path("staging/savedmodel"), Path("models/fashion"))   # doctest: +SKIP
    PosixPath('models/fashion/3')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .card import CARD, file_entries
from .errors import ExportError


def next_version(base: Path) -> int:
    """One more than the highest numbered folder in ``base`` (1 for an empty or new base path).

    >>> next_version(Path("/nonexistent/base"))
    1
    """
    numbers = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(numbers, default=0) + 1


def write_version(source: Path, base: Path) -> Path:
    """Copy the verified export in ``source`` (an export folder with its card) to ``base/<next version>``."""
    if base.exists() and not base.is_dir():
        raise ExportError(f"{base} is a file, not a folder", where="--base-path",
                          fix="Give a folder for the versions (it is created when missing).")
    card: dict[str, Any] = json.loads((source / CARD).read_text(encoding="utf-8"))
    base.mkdir(parents=True, exist_ok=True)
    for _ in range(100):  # another exporter may take the same number: try the next one
        version = next_version(base)
        incoming = base / f".incoming-{version}-{os.getpid()}"
        shutil.rmtree(incoming, ignore_errors=True)
        if card.get("format") == "savedmodel":  # TF Serving's layout: the SavedModel is the version folder
            shutil.copytree(source / str(card["artifact"]), incoming)
            card["artifact"] = "saved_model.pb"
        else:
            shutil.copytree(source, incoming, ignore=shutil.ignore_patterns(CARD))
        files = file_entries(incoming)
        card.update(version=version, files=files, size_bytes=sum(f["bytes"] for f in files.values()))
        (incoming / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(incoming, base / str(version))
        except OSError:
            shutil.rmtree(incoming, ignore_errors=True)
            continue
        return base / str(version)
    raise ExportError(f"could not find a free version number in {base}", where=str(base),
                      fix="Check that the folder is writable.")
