"""Results of finished jobs, written many per transaction (group commit).

A commit costs a round trip and, on PostgreSQL, an fsync (about 8 ms on this machine's
disk): one transaction per completed job would cap a worker near 100 jobs/s whatever its
concurrency. Results wait here only while the previous batch is being written, so an idle
worker writes at once and a busy one writes everything finished meanwhile in one commit.
This is Corral's one write-behind worker (corral.core.batching.BatchWorker), except that
each job's task waits for its own result to be durable (or refused: the lease was lost).
"""

from __future__ import annotations

import asyncio

from corral.core.batching import BatchWorker
from corral.jobs.leases import Leases
from corral.jobs.types import Job, JSONValue

_Item = tuple[Job, JSONValue, "asyncio.Future[bool]"]


class ResultWriter(BatchWorker[_Item]):
    task_name = "corral-jobs-results"

    def __init__(self, leases: Leases, *, max_pending: int, batch_size: int = 100) -> None:
        super().__init__(max_queue=max_pending, batch_size=batch_size)
        self.leases = leases

    async def complete(self, job: Job, result: JSONValue) -> bool:
        """Store ``result`` (fenced by the job's lease); False: the lease was no longer held."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not self._offer((job, result, done)):
            raise RuntimeError("result writer queue full")  # the caller retries, as on a db error
        return await done

    async def _handle(self, batch: list[_Item]) -> bool:
        try:
            written = await self.leases.complete_many([(job, result) for job, result, _ in batch])
        except Exception as exc:  # noqa: BLE001 - each waiting job decides whether to retry
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return False
        for job, _, done in batch:
            if not done.done():
                done.set_result(job.id in written)
        return True

    async def _abandon(self, items: list[_Item]) -> None:
        for _, _, done in items:
            if not done.done():
                done.set_exception(RuntimeError("the worker stopped before the result was written"))
