"""BatchWorker: producers never wait, batches are bounded, close drains or counts drops."""

from __future__ import annotations

import asyncio

import pytest

from corral.core.batching import BatchWorker


class Collector(BatchWorker[int]):
    def __init__(self, fail_first: int = 0, **kw: int) -> None:
        super().__init__(**kw)
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.gate = asyncio.Event()
        self.gate.set()

    async def _handle(self, batch: list[int]) -> bool:
        await self.gate.wait()
        self.batches.append(batch)
        if self.fail_first > 0:
            self.fail_first -= 1
            return False
        return True


@pytest.mark.asyncio
async def test_full_queue_drops_and_counts_without_waiting() -> None:
    worker = Collector(max_queue=2, batch_size=10)
    assert [worker._offer(n) for n in range(4)] == [True, True, False, False]
    assert worker.counters["dropped_queue_full"] == 2
    await worker.flush()  # no task: drained inline
    assert worker.batches == [[0, 1]] and worker.pending == 0


@pytest.mark.asyncio
async def test_background_batches_respect_batch_size_and_flush_waits() -> None:
    worker = Collector(max_queue=100, batch_size=3)
    worker.gate.clear()
    worker.start()
    for n in range(7):
        worker._offer(n)
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
    worker = Collector(max_queue=10, batch_size=1)
    worker.gate.clear()  # the handler never finishes
    worker.start()
    for n in range(3):
        worker._offer(n)
    await asyncio.sleep(0)
    await worker.aclose(timeout_s=0.05)
    assert worker.counters["dropped_on_close"] == 2  # one batch was in flight when it stopped
