"""Background writes of cached answers to a remote KV (Redis), on the shared batching worker.

The response never waits on the network: the cache stage hands the serialised answer over
and returns. Writes are bounded: with ``max_pending`` writes queued or in flight (the KV is
slower than the traffic), more are shed and counted as ``skipped_busy`` in the cache's
counters. A batch's writes go out in one Redis pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.cache.exact import ExactCache
from corral.core.batching import BatchWorker

Write = tuple[str, bytes, float | None, Sequence[str]]  # key, payload, ttl, owner tags


class CacheWriter(BatchWorker[Write]):
    task_name = "corral-cache-writer"

    def __init__(self, cache: ExactCache, *, max_pending: int = 1000, batch_size: int = 100) -> None:
        super().__init__(max_queue=max_pending, batch_size=batch_size)
        self.cache = cache
        self.max_pending = max_pending

    def put(self, key: str, payload: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()) -> bool:
        """Queue one write without waiting; False (counted as ``skipped_busy``) when shed."""
        if self.pending >= self.max_pending or not self._offer((key, payload, ttl_s, tags)):
            self.cache.counters["skipped_busy"] += 1
            return False
        self.start()  # at the first write, and again after a drain stopped the task
        return True

    async def _handle(self, batch: list[Write]) -> bool:
        await self.cache.put_many(batch)  # one pipeline on Redis
        return True  # put_many counts and logs its own failures
