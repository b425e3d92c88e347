"""Where kerasforge talks to people: a `rich` console on stderr, silenced by ``quiet``.

Example:
    >>> say("Using the bundled digits dataset instead.")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_console: Console | None = None  # made on first use: `kforge --help` needs no rich
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) everything :func:`say` prints."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """True when output is silenced."""
    return _quiet


def say(message: str, style: str | None = None) -> None:
    """Print one line for the user (nothing when quiet)."""
    if not _quiet:
        console().print(message, style=style, soft_wrap=True)


def console() -> Console:
    """The shared console (for tables and status spinners)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False)
    return _console
