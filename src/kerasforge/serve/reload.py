"""Hot reload of versioned base paths: new versions loaded and swapped in, old ones retired by policy.

Every ``interval`` seconds (TF Serving's ``file_system_poll_wait_seconds``) each base path is listed. A new
version folder whose files have stopped changing since the previous poll is opened in a worker thread,
warmed up and only then put into the model's version table (one dictionary assignment on the event loop),
so requests never see a half-loaded version. Versions that the policy no longer keeps (or whose folder
is gone) leave the table at once (new requests go to the others) and are retired once the requests
already running on them have their answers; their memory is then released.

Example:
    >>> watcher = VersionWatcher(registry, start_version, stop_version, interval=2.0)   # doctest: +SKIP
    >>> watcher.start()                                                    # inside the running event loop
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from .registry import ModelEntry, ModelRegistry, ServedModel, open_model, version_folders

log = logging.getLogger("kerasforge.serve")


def folder_signature(folder: Path) -> tuple:
    """What changes while a folder is being written: every file's path, size and modification time."""
    try:
        return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                            for p in folder.rglob("*") if p.is_file()))
    except OSError:
        return ("unreadable", time.monotonic())


class VersionWatcher:
    """Polls the registry's base paths; loads, swaps in and retires versions."""

    def __init__(self, registry: ModelRegistry, start_version: Callable[[ServedModel], Awaitable[None]],
                 stop_version: Callable[[ServedModel], Awaitable[None]], *, interval: float,
                 retire_grace: float = 60.0) -> None:
        self.registry = registry
        self.start_version = start_version
        self.stop_version = stop_version
        self.interval = float(interval)
        self.retire_grace = retire_grace
        self._task: asyncio.Task | None = None
        self._seen: dict[tuple[str, int], tuple] = {}
        self._failed: dict[tuple[str, int], tuple] = {}
        self._retiring: set[asyncio.Task] = set()

    def start(self) -> None:
        """Start polling (inside the running loop) when there is a base path to watch."""
        if self.interval > 0 and any(e.base is not None for e in self.registry.entries()):
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in [self._task, *self._retiring]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:  # a bad poll must not end the watching
                log.exception("polling the model base paths failed")

    async def poll(self) -> None:
        """One pass over every base path."""
        for entry in self.registry.entries():
            if entry.base is not None:
                await self._poll_entry(entry)

    async def _poll_entry(self, entry: ModelEntry) -> None:
        try:
            folders = version_folders(entry.base)
        except OSError:
            log.warning("cannot list %s", entry.base)
            return
        wanted = set(entry.policy.keep(folders))
        for version in sorted(wanted - set(entry.versions)):
            key = (entry.name, version)
            signature = folder_signature(folders[version])
            stable, self._seen[key] = self._seen.get(key) == signature, signature
            if not stable or self._failed.get(key) == signature:
                continue  # still being written, or failed as it is now
            await self._load(entry, version, folders[version], signature)
        if not wanted & set(entry.versions):
            return  # availability first (as TF Serving's policy): keep the old ones until a wanted one serves
        for version in sorted(set(entry.versions) - wanted):
            model = entry.versions.pop(version)
            entry.states[version] = ("UNLOADING", "")
            task = asyncio.create_task(self._retire(entry, model))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _load(self, entry: ModelEntry, version: int, folder: Path, signature: tuple) -> None:
        entry.states[version] = ("LOADING", "")
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(None, functools.partial(open_model, folder, name=entry.name,
                                                                       version=version))
            await self.start_version(model)
        except Exception as exc:
            self._failed[(entry.name, version)] = signature
            entry.states[version] = ("END", f"{type(exc).__name__}: {getattr(exc, 'what', exc)}"[:500])
            log.warning("version %s of %s could not be loaded: %s", version, entry.name, exc)
            return
        entry.versions[version] = model  # the swap: new requests for "latest" get it from now on
        entry.states[version] = ("AVAILABLE", "")
        log.info("serving version %s of %s", version, entry.name)

    async def _retire(self, entry: ModelEntry, model: ServedModel) -> None:
        """Stop ``model`` once the requests already on it are answered (or after the grace period)."""
        deadline = time.monotonic() + self.retire_grace
        while model.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.stop_version(model)
        entry.states[model.version] = ("END", "")
        model.engine = None  # type: ignore[assignment]  # the runtime's memory goes with the last reference
        await asyncio.get_running_loop().run_in_executor(None, gc.collect)
        log.info("retired version %s of %s", model.version, entry.name)
