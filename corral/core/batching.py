"""A bounded queue drained in batches by one background task.

Bookkeeping (policy events, quality scores) must never make a request wait: producers
`_offer` items without blocking (a full queue drops and counts), and one task hands
batches to `_handle`. `flush()` waits for what is queued; `aclose()` flushes within a
time limit, then stops and counts what is left as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchWorker(Generic[T]):
    task_name = "corral-batch-worker"
    retry_delay_s = 0.0  # pause after a failed batch, so a failing database can breathe

    def __init__(self, *, max_queue: int, batch_size: int) -> None:
        self.batch_size = batch_size
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self.counters: dict[str, int] = {"dropped_queue_full": 0, "dropped_on_close": 0}

    async def _handle(self, batch: list[T]) -> bool:
        """Process one batch; False when it failed (the worker then pauses)."""
        raise NotImplementedError

    async def _before_loop(self) -> None:
        """Runs once when the background task starts."""

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _offer(self, item: T) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.counters["dropped_queue_full"] += 1
            return False
        return True

    def start(self) -> None:
        """Start the background task (call from the running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def flush(self) -> None:
        """Wait until everything queued so far has been handled (or dropped)."""
        if self._task is None or self._task.done():
            while not self._queue.empty():
                await self._drain(self._take_batch())
            return
        await self._queue.join()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued (bounded by `timeout_s`), then stop the task."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self.counters["dropped_on_close"] += 1

    def _take_batch(self, first: T | None = None) -> list[T]:
        batch = [first] if first is not None else []
        while len(batch) < self.batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        await self._before_loop()
        while True:
            if not await self._drain(self._take_batch(await self._queue.get())):
                await asyncio.sleep(self.retry_delay_s)

    async def _drain(self, batch: list[T]) -> bool:
        try:
            return await self._handle(batch)
        finally:
            for _ in batch:
                self._queue.task_done()
