"""Micro-batching: concurrent requests for one model share one engine call.

Requests wait in an asyncio queue; a worker takes the first, gathers more for at most ``timeout_ms``
or until ``max_batch`` examples, runs the engine once (in a worker thread, so the event loop keeps
accepting requests; or ``inline`` on the loop for engines fast enough that the thread hand-off costs more) and hands each request its own rows of the result. Under load the queue fills
while the engine is busy, so batches grow exactly when it pays.

Example:
    >>> batcher = MicroBatcher(engine.predict, max_batch=64, timeout_ms=2)   # doctest: +SKIP
    >>> await batcher.start()                                                  # doctest: +SKIP
    >>> probs = await batcher.submit(x)        # x: (n, 28, 28, 1) -> (n, 10)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_Item = tuple[np.ndarray, asyncio.Future]


class MicroBatcher:
    """Collects submitted arrays into batches of at most ``max_batch`` rows for ``predict``."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], *, max_batch: int = 64,
                 timeout_ms: float = 2.0, on_batch: Callable[[int], None] | None = None,
                 inline: bool = False) -> None:
        self.predict = predict
        self.max_batch = max(1, int(max_batch))
        self.timeout = max(0.0, float(timeout_ms)) / 1000.0
        self.on_batch = on_batch
        self.inline = inline
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: _Item | None = None

    async def start(self) -> None:
        """Start the worker (call from the running event loop)."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kforge-engine")
        self._task = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker; requests still waiting get a ``RuntimeError``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """The engine's output rows for ``x`` (run together with other requests' rows)."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((x, future))
        return await future

    async def _next(self) -> _Item:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        assert self._queue is not None
        return await self._queue.get()

    async def _collect(self) -> list[_Item]:
        assert self._queue is not None
        items = [await self._next()]
        rows = len(items[0][0])
        if self.timeout and rows + self._queue.qsize() < self.max_batch:
            await asyncio.sleep(self.timeout)  # one timer per batch, not one per waiting request
        while rows < self.max_batch and self._carry is None and not self._queue.empty():
            item = self._queue.get_nowait()
            if rows + len(item[0]) > self.max_batch:
                self._carry = item  # starts the next batch
                break
            items.append(item)
            rows += len(item[0])
        return items

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            items = [(x, f) for x, f in items if not f.done()]  # clients that went away
            if not items:
                continue
            batch = items[0][0] if len(items) == 1 else np.concatenate([x for x, _ in items])
            try:
                if self.inline:  # a fast engine: cheaper than handing the batch to a thread and back
                    out = self.predict(batch)
                else:
                    out = await loop.run_in_executor(self._executor, self.predict, batch)
            except Exception as exc:
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch))
            start = 0
            for x, future in items:
                if not future.done():
                    future.set_result(out[start:start + len(x)])
                start += len(x)
