"""The worker: claims jobs of the kinds it has handlers for and runs them, with leases.

Two loops and one task per running job. The claim loop takes at most as many jobs as it
has free slots (`jobs.concurrency`), so no job sits leased behind a busy worker; it waits
`poll_interval_s` when idle, or less when a local enqueue or a finished job wakes it. The
beat loop renews every held lease in one statement every ``lease_s / 3``, learns of cancel
requests and lost leases there, and returns dead workers' jobs to the queue. The worker
knows no HTTP: a handler is ``async def (job, control) -> JSON``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from corral.jobs.control import Handler, JobControl, StopReason
from corral.jobs.errors import JobFailed
from corral.jobs.leases import Leases
from corral.jobs.queue import JobQueue
from corral.jobs.results import ResultWriter
from corral.jobs.stats import WorkerStats
from corral.jobs.types import Job

log = logging.getLogger("corral.jobs")
T = TypeVar("T")
PURGE_INTERVAL_S = 3600.0  # finished jobs are deleted hourly (retention is days)
DEPTH_INTERVAL_S = 5.0  # queue depth for /metrics: a GROUP BY, not on every beat
STOP_GRACE_S = 2.0  # after stop() cancels a job: time for its handler to clean up and release
_ERROR_MESSAGE_CHARS = 2000


@dataclass
class _Running:
    job: Job
    control: JobControl
    task: asyncio.Task[None]
    deadline: float  # time.monotonic() when the lease lapses unless renewed
    settling: bool = False  # the handler returned: its outcome is being written, not to be cancelled


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def error_of(exc: BaseException) -> dict[str, Any]:
    """The JSON stored for a failed attempt."""
    if isinstance(exc, JobFailed):
        return exc.as_error()
    return {"type": type(exc).__name__, "message": str(exc)[:_ERROR_MESSAGE_CHARS]}


class JobWorker:
    """Runs handlers for claimed jobs; ``start()`` it, and ``stop()`` it before the loop ends."""

    def __init__(self, queue: JobQueue, handlers: Mapping[str, Handler] | None = None, *,
                 worker_id: str | None = None, leases: Leases | None = None) -> None:
        self.queue = queue
        self.settings = queue.settings
        self.leases = leases or Leases(queue.db, queue.settings, clock=queue.clock)
        self.worker_id = worker_id or default_worker_id()
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.counts = WorkerStats()
        self._results = ResultWriter(self.leases, max_pending=2 * self.settings.concurrency)
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._next_depth = self._next_purge = 0.0

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def stats(self) -> dict[str, float]:
        """Counters and gauges for metrics (cheap: no I/O, see corral.jobs.stats)."""
        return self.counts.as_dict(running=len(self._running))

    @property
    def running(self) -> list[Job]:
        return [r.job for r in self._running.values()]

    async def start(self) -> None:
        if self._tasks:
            return
        self.queue.subscribe(self)
        self._results.start()
        self._tasks = [asyncio.create_task(self._claim_loop(), name=f"jobs claim {self.worker_id}"),
                       asyncio.create_task(self._beat_loop(), name=f"jobs beat {self.worker_id}")]

    async def __aenter__(self) -> JobWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, wait_s: float | None = None) -> None:
        """Stop claiming; let running jobs finish for up to ``wait_s`` (`shutdown_timeout_s`),
        then cancel them and give their leases back so another worker starts them at once."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        claim, beat = self._tasks or (None, None)
        if claim is not None:
            await claim
        pending = {r.task for r in self._running.values()}
        if pending:
            limit = self.settings.shutdown_timeout_s if wait_s is None else wait_s
            _, pending = await asyncio.wait(pending, timeout=limit)
        for run in list(self._running.values()):
            self._stop_job(run, "shutdown")
        if pending:  # each cancelled job releases its own lease; a handler deaf to cancel does not
            _, pending = await asyncio.wait(pending, timeout=STOP_GRACE_S)
        leftover = list(self._running.values())
        if leftover:  # deaf handlers, outcomes still retrying a failing database: give them up
            self.counts.released += await self._guarded(self.leases.release([r.job for r in leftover]), 0)
            for run in leftover:
                run.task.cancel()
            await asyncio.wait([r.task for r in leftover], timeout=STOP_GRACE_S)
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        await self._results.aclose()
        self.queue.unsubscribe(self)

    # QueueListener: told by an in-process JobQueue
    def wake(self) -> None:
        self._wake.set()

    def cancel_requested(self, job_id: str) -> None:
        for run in list(self._running.values()):
            if job_id in (run.job.id, run.job.parent_id):
                self._stop_job(run, "cancel")

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.settings.concurrency - len(self._running)
            if free > 0 and self.handlers:
                jobs = await self._guarded(self.leases.claim(self.worker_id, self.handlers, free), [])
                for job in jobs:
                    self._start(job)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)

    def _start(self, job: Job) -> None:
        self.counts.claimed += 1
        control = JobControl(job, self.worker_id)
        task = asyncio.create_task(self._run(job, control), name=f"job {job.id}")
        self._running[job.id] = _Running(job, control, task, time.monotonic() + self.settings.lease_s)

        def done(_: asyncio.Task[None]) -> None:
            self._running.pop(job.id, None)
            self._wake.set()

        task.add_done_callback(done)

    def _stop_job(self, run: _Running, reason: StopReason) -> None:
        if not run.settling and run.control.stop(reason):
            run.task.cancel()

    async def _run(self, job: Job, control: JobControl) -> None:
        handler = self.handlers[job.kind]
        try:
            result = await handler(job, control)
            self._running[job.id].settling = True
        except asyncio.CancelledError:
            if control.stop_reason is None:
                raise  # not the worker's doing (the event loop is closing)
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._stopped(job, control.stop_reason)
        except Exception as exc:  # noqa: BLE001 - any handler failure is a failed attempt
            self._running[job.id].settling = True
            await self._failed(job, exc)
        else:
            if await self._settle(job, lambda: self._results.complete(job, result)):
                self.counts.completed += 1

    async def _failed(self, job: Job, exc: Exception) -> None:
        retryable = not isinstance(exc, JobFailed) or exc.retryable
        retry_after = exc.retry_after_s if isinstance(exc, JobFailed) else None
        log.warning("job %s (%s) attempt %d failed: %s: %s", job.id, job.kind, job.attempts,
                    type(exc).__name__, exc, exc_info=not isinstance(exc, JobFailed))
        status = await self._settle(job, lambda: self.leases.fail(
            job, error_of(exc), retryable=retryable, retry_after_s=retry_after))
        if status == "queued":
            self.counts.retried += 1
        elif status == "failed":
            self.counts.failed += 1
        elif status == "cancelled":
            self.counts.cancelled += 1

    async def _stopped(self, job: Job, reason: StopReason) -> None:
        if reason == "cancel":
            if await self._settle(job, lambda: self.leases.cancelled(job)):
                self.counts.cancelled += 1
        elif reason == "shutdown":
            self.counts.released += await self._guarded(self.leases.release([job]), 0)
        else:
            self.counts.lease_lost += 1

    async def _settle(self, job: Job, write: Callable[[], Awaitable[T]]) -> T | None:
        """Write an outcome, retrying a failing database until the lease lapses (then the job
        runs again elsewhere: at least once). A refused write (lease gone) counts as fenced."""
        while True:
            try:
                outcome = await write()
            except Exception as exc:  # noqa: BLE001 - database down: retry while the lease holds
                self.counts.db_errors += 1
                run = self._running.get(job.id)
                if run is None or time.monotonic() > run.deadline:
                    log.error("job %s: could not store its outcome (%s); it will run again", job.id, exc)
                    return None
                await asyncio.sleep(min(1.0, self.settings.heartbeat_s))
                continue
            if outcome is False or outcome is None:
                self.counts.fenced += 1
                log.info("job %s: lease no longer held by %s; outcome discarded", job.id, self.worker_id)
                return None
            return outcome

    async def _guarded(self, op: Awaitable[T], fallback: T) -> T:
        """A claim or beat that fails (database down) is retried on the next round."""
        try:
            return await op
        except Exception as exc:  # noqa: BLE001 - keep the loops alive through outages
            self.counts.db_errors += 1
            log.warning("jobs: %s", exc)
            return fallback

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            await self.beat()

    async def beat(self) -> None:
        """One round of the beat loop: renew leases, act on cancels and lost leases, recover
        dead workers' jobs, and refresh the depth gauges and retention when due."""
        started = time.monotonic()
        held = {r.job.id: r.job.lease_token or "" for r in self._running.values()}
        heartbeat = await self._guarded(self.leases.heartbeat(self.worker_id, held), None)
        for job_id in held:
            run = self._running.get(job_id)
            if run is None:
                continue
            if heartbeat is not None and job_id not in heartbeat.lost:
                run.deadline = started + self.settings.lease_s
            if heartbeat is not None and job_id in heartbeat.cancelling:
                self._stop_job(run, "cancel")
            elif (heartbeat is not None and job_id in heartbeat.lost) or time.monotonic() > run.deadline:
                self._stop_job(run, "lease_lost")
        recovered = await self._guarded(self.leases.recover(), None)
        if recovered is not None:
            self.counts.lease_recoveries += recovered.requeued + recovered.failed + recovered.cancelled
            self.counts.expired += recovered.expired
        if started >= self._next_depth:
            self._next_depth = started + DEPTH_INTERVAL_S
            await self.refresh_depth()
        if started >= self._next_purge:
            self._next_purge = started + PURGE_INTERVAL_S
            await self._guarded(self.queue.purge_finished(), 0)

    async def refresh_depth(self) -> None:
        depth = await self._guarded(self.queue.depth(), None)
        if depth is not None:
            self.counts.depth = {**dict.fromkeys(self.handlers, 0), **depth}

