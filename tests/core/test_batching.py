"""BatchWorker: producers never wait, batches are bounded, close drains or counts drops."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest

from corral.core.batching import BatchWorker

W = TypeVar("W", bound="Collector")


class Collector(BatchWorker[int]):
    def __init__(self, fail_first: int = 0, **kw: int) -> None:
        super().__init__(**kw)
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.gate = asyncio.Event()
        self.gate.set()
        self.handled = asyncio.Event()  # set by every batch

    async def _handle(self, batch: list[int]) -> bool:
        await self.gate.wait()
        self.batches.append(batch)
        self.handled.set()
        if self.fail_first > 0:
            self.fail_first -= 1
            return False
        return True


def started(worker: W, n: int, *, stuck: bool = False) -> W:
    """``worker`` running with items 0..n-1 offered; ``stuck``: batches wait for the gate."""
    if stuck:
        worker.gate.clear()
    worker.start()
    for item in range(n):
        worker._offer(item)
    return worker


@pytest.mark.asyncio
async def test_full_queue_drops_and_counts_without_waiting() -> None:
    worker = Collector(max_queue=2, batch_size=10)
    assert [worker._offer(n) for n in range(4)] == [True, True, False, False]
    assert worker.counters["dropped_queue_full"] == 2
    await worker.flush()  # no task: drained inline
    assert worker.batches == [[0, 1]] and worker.pending == 0


@pytest.mark.asyncio
async def test_background_batches_respect_batch_size_and_flush_waits() -> None:
    worker = started(Collector(max_queue=100, batch_size=3), 7, stuck=True)
    worker.gate.set()
    await worker.flush()
    assert [n for batch in worker.batches for n in batch] == list(range(7))
    assert all(len(b) <= 3 for b in worker.batches)
    await worker.aclose()


@pytest.mark.asyncio
async def test_failed_batch_pauses_then_continues() -> None:
    worker = Collector(fail_first=1, max_queue=10, batch_size=1)
    worker.retry_delay_s = 0.05
    worker.start()
    worker._offer(1)
    worker._offer(2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await worker.flush()
    assert worker.batches == [[1], [2]] and loop.time() - began >= 0.04
    await worker.aclose()


@pytest.mark.asyncio
async def test_close_gives_up_after_timeout_and_counts_what_is_left() -> None:
    worker = started(Collector(max_queue=10, batch_size=1), 3, stuck=True)  # the handler never finishes
    await asyncio.sleep(0)
    await worker.aclose(timeout_s=0.05)
    assert worker.counters["dropped_on_close"] == 2  # one batch was in flight when it stopped


@pytest.mark.asyncio
async def test_window_collects_one_batch_and_a_full_batch_goes_at_once() -> None:
    worker = Collector(max_queue=100, batch_size=4)
    worker.max_wait_s = 0.2
    worker.start()
    worker._offer(1)
    await asyncio.sleep(0.02)
    worker._offer(2)
    await asyncio.sleep(0.02)
    assert worker.batches == []  # still inside the window
    loop = asyncio.get_running_loop()
    began = loop.time()
    worker._offer(3)
    worker._offer(4)  # a full batch ends the window
    await asyncio.wait_for(worker.handled.wait(), 1)
    assert worker.batches == [[1, 2, 3, 4]] and loop.time() - began < 0.1
    worker._offer(5)
    began = loop.time()
    assert await worker.flush(1)  # a flush does not wait for the window either
    assert worker.batches[-1] == [5] and loop.time() - began < 0.1
    await worker.aclose()


@pytest.mark.asyncio
async def test_partial_batch_goes_when_the_window_ends() -> None:
    worker = Collector(max_queue=100, batch_size=100)
    worker.max_wait_s = 0.05
    started(worker, 3)
    await asyncio.sleep(0.2)
    assert worker.batches == [[0, 1, 2]] and worker.pending == 0
    await worker.aclose()


class Ticking(Collector):
    """Timed work besides the queue, due every 20 ms (like the sink's spool replay)."""

    def __init__(self, **kw: int) -> None:
        super().__init__(**kw)
        self.ticks = self.calls = 0
        self.due_at = 0.0

    def _tick_due_s(self) -> float | None:
        return self.due_at - asyncio.get_running_loop().time()

    async def _tick(self) -> None:
        self.calls += 1
        loop = asyncio.get_running_loop()
        if loop.time() >= self.due_at:
            self.ticks += 1
            self.due_at = loop.time() + 0.02


@pytest.mark.asyncio
async def test_timed_work_runs_with_an_empty_queue() -> None:
    worker = Ticking(max_queue=10, batch_size=10)
    worker.start()
    await asyncio.sleep(0.15)
    assert 3 <= worker.ticks <= 10 and worker.calls < 30  # woken when due, not polling
    await worker.aclose()


class Keeping(Collector):
    """Keeps what close could not handle instead of dropping it (like the sink's spool)."""

    def __init__(self, **kw: int) -> None:
        super().__init__(**kw)
        self.kept: list[int] = []

    async def _abandon(self, items: list[int]) -> None:
        self.kept += items


@pytest.mark.asyncio
async def test_close_hands_the_leftovers_to_abandon_and_the_worker_restarts() -> None:
    worker = started(Keeping(max_queue=10, batch_size=1), 3, stuck=True)
    await asyncio.sleep(0)
    await worker.aclose(timeout_s=0.05)
    assert worker.kept == [1, 2] and worker.counters["dropped_on_close"] == 0
    assert worker.pending == 0
    worker.gate.set()
    worker._offer(7)
    worker.start()
    assert await worker.flush(1) and worker.batches[-1] == [7]
    await worker.aclose()


@pytest.mark.asyncio
async def test_a_batch_that_raises_is_logged_and_the_worker_goes_on() -> None:
    class Raising(Collector):
        async def _handle(self, batch: list[int]) -> bool:
            if batch == [0]:
                raise RuntimeError("bug")
            return await super()._handle(batch)

    worker = Raising(max_queue=10, batch_size=1)
    worker.start()
    worker._offer(0)
    worker._offer(1)
    assert await worker.flush(1)
    assert worker.batches == [[1]] and worker.pending == 0
    await worker.aclose()


@pytest.mark.asyncio
async def test_flush_gives_up_after_its_timeout() -> None:
    worker = Collector(max_queue=10, batch_size=1)
    worker.gate.clear()
    worker.start()
    worker._offer(1)
    assert not await worker.flush(0.05)
    worker.gate.set()
    assert await worker.flush(1)
    await worker.aclose()
