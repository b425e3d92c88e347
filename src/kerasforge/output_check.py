"""An output folder that cannot exist is said before anything runs: a path under a regular file, a name
longer than the file system allows, or a recipe name that would make run-folder names too long.

Example:
    >>> check_output_dir(Path("runs"), "fashion_mnist_cnn")
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import KerasforgeError

STAMP_LENGTH = len("-20261123-101500-999")


def check_output_dir(output: Path, recipe_name: str, *, where: str = "output.dir") -> None:
    """A :class:`KerasforgeError` when run folders ``<output>/<recipe_name>-<stamp>`` cannot be created."""
    output = Path(output).expanduser()
    try:
        name_max = os.pathconf(_existing_ancestor(output), "PC_NAME_MAX")
        path_max = os.pathconf(_existing_ancestor(output), "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in output.parts:
        if len(part.encode()) > name_max:
            raise KerasforgeError(f"the folder name {part[:40]!r}... is {len(part.encode())} bytes long, more than "
                                  f"the file system allows ({name_max})", where=f"{where}: {str(output)[:80]}",
                                  fix="Choose a shorter output folder (--output or output.dir).")
    if len((recipe_name + "x" * STAMP_LENGTH).encode()) > name_max:
        raise KerasforgeError(f"the recipe name is {len(recipe_name.encode())} bytes long, too long for run-folder "
                              f"names (at most {name_max - STAMP_LENGTH})", where="name",
                              fix="Give the recipe a shorter `name:`.")
    if len(str(output.resolve()).encode()) + len(recipe_name) + STAMP_LENGTH + 64 > path_max:
        raise KerasforgeError(f"the output path is too long for the file system ({path_max} bytes at most)",
                              where=f"{where}: {str(output)[:80]}...", fix="Choose a shorter output folder.")
    blocker = _existing_ancestor(output)
    if not blocker.is_dir():
        raise KerasforgeError(f"cannot create the output folder: {blocker} is a file, not a folder",
                              where=f"{where}: {output}", fix="Choose another output folder (--output or "
                              "output.dir), or move that file away.")


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path("/")
