"""What a running handler gets besides its job: why and whether it is being stopped.

The worker stops a handler by cancelling its task (a client cancelled the job, another
worker took the lease over, or the process is shutting down), so most handlers need
nothing from here. A handler that runs many steps (a batch fanning out items) can check
:attr:`JobControl.stopping` between them, or clean up in ``finally`` knowing the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from corral.jobs.types import Job, JSONValue

StopReason = Literal["cancel", "lease_lost", "shutdown"]


class JobControl:
    """The handler's view of its worker for one attempt of one job."""

    def __init__(self, job: Job, worker_id: str) -> None:
        self.job = job
        self.worker_id = worker_id
        self.stop_reason: StopReason | None = None
        self._stopping = asyncio.Event()

    @property
    def attempt(self) -> int:
        """1 for the first attempt."""
        return self.job.attempts

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    async def wait_stopping(self) -> StopReason:
        """Return once the worker decides to stop this job (for handlers that poll or fan out)."""
        await self._stopping.wait()
        assert self.stop_reason is not None
        return self.stop_reason

    def stop(self, reason: StopReason) -> bool:
        """Mark the attempt stopped; the first reason wins. True if this call set it."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        self._stopping.set()
        return True


Handler = Callable[[Job, JobControl], Awaitable[JSONValue]]
"""``async def handler(job, control) -> result``: the result (JSON) is stored when it
returns; raising :class:`~corral.jobs.errors.JobFailed` or any exception fails the attempt."""
