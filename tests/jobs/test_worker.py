"""JobWorker: runs each job once across workers, survives a killed worker, retries, cancels,
and shuts down without holding on to work."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import pytest

from corral.jobs.control import JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.leases import Leases
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.jobs.stats import JOB_COUNTERS
from corral.jobs.types import Job, JobStatus, JSONValue, NewJob
from corral.jobs.worker import JobWorker
from corral.store.db import Database

KIND = "batch_item"


def new(i: int = 0, **kw: object) -> NewJob:
    return NewJob(**{"kind": KIND, "payload": {"i": i}, "team": "t", **kw})  # type: ignore[arg-type]


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def status_is(queue: JobQueue, job_id: str, *statuses: JobStatus) -> bool:
    job = await queue.get(job_id)
    return job is not None and job.status in statuses


async def echo(job: Job, control: JobControl) -> JSONValue:
    return {"i": job.payload["i"], "by": control.worker_id}


async def test_a_worker_runs_jobs_and_is_woken_by_a_local_enqueue(jobs_db: Database) -> None:
    queue = JobQueue(jobs_db, JobSettings(poll_interval_s=30, lease_s=3))  # polling would take 30 s
    async with JobWorker(queue, {KIND: echo}, worker_id="w1") as worker:
        await asyncio.sleep(0.05)  # the worker is idle, waiting
        started = time.monotonic()
        job = await queue.enqueue(new(7))
        await until(lambda: status_is(queue, job.id, "completed"), within_s=3)
        assert time.monotonic() - started < 2
    stored = await queue.get(job.id)
    assert stored is not None and stored.result == {"i": 7, "by": "w1"}
    stats = worker.stats()
    assert (stats["claimed"], stats["completed"], stats["running"]) == (1, 1, 0)
    assert JOB_COUNTERS <= set(stats)


async def test_two_workers_complete_every_job_exactly_once(queue: JobQueue, other_db: Database) -> None:
    runs: Counter[str] = Counter()

    async def count(job: Job, control: JobControl) -> JSONValue:
        runs[job.id] += 1
        await asyncio.sleep(0.001)
        return control.worker_id

    # A lease far longer than any job: a second run here could only come from two claims.
    queue.settings = queue.settings.model_copy(update={"lease_s": 10.0})
    jobs = await queue.enqueue_many([new(i) for i in range(80)])
    a, b = (JobWorker(q, {KIND: count}, worker_id=w)
            for q, w in ((queue, "a"), (JobQueue(other_db, queue.settings), "b")))
    async with a, b:
        await until(lambda: _all_done(queue, len(jobs)), within_s=15)
    assert set(runs) == {j.id for j in jobs} and set(runs.values()) == {1}
    assert a.stats()["completed"] + b.stats()["completed"] == 80
    by = Counter(j.result for j in await queue.list(limit=100))
    assert set(by) == {"a", "b"}, f"both workers should share the work: {by}"


async def _all_done(queue: JobQueue, n: int) -> bool:
    return (await queue.depth()).get(KIND, 0) == 0 and len(await queue.list(status="completed", limit=n)) == n


async def test_concurrency_is_limited(queue: JobQueue) -> None:
    active, peak = 0, 0

    async def slow(job: Job, control: JobControl) -> JSONValue:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.03)
        active -= 1
        return None

    queue.settings = queue.settings.model_copy(update={"concurrency": 2})
    await queue.enqueue_many([new(i) for i in range(8)])
    async with JobWorker(queue, {KIND: slow}):
        await until(lambda: _all_done(queue, 8))
    assert peak == 2


async def test_a_killed_workers_job_is_taken_over_and_completed_once(
        queue: JobQueue, other_db: Database) -> None:
    queue.settings = queue.settings.model_copy(update={"lease_s": 0.5})  # the wait for the takeover
    started = asyncio.Event()
    calls: list[str] = []

    async def hangs_on_first_worker(job: Job, control: JobControl) -> JSONValue:
        calls.append(control.worker_id)
        if control.worker_id == "doomed":
            started.set()
            await asyncio.Event().wait()
        return control.worker_id

    job = await queue.enqueue(new())
    doomed = JobWorker(queue, {KIND: hangs_on_first_worker}, worker_id="doomed")
    await doomed.start()
    await asyncio.wait_for(started.wait(), 5)
    [stale] = doomed.running
    for task in [*doomed._tasks, *(r.task for r in doomed._running.values()), doomed._results._task]:
        if task is not None:
            task.cancel()  # SIGKILL, as far as the database can tell: no release, no more heartbeats
    await asyncio.sleep(0.01)
    replica = JobQueue(other_db, queue.settings)
    survivor = JobWorker(replica, {KIND: hangs_on_first_worker}, worker_id="survivor")
    async with survivor:
        await until(lambda: status_is(queue, job.id, "completed"))
    stored = await queue.get(job.id)
    assert stored is not None and (stored.result, stored.attempts) == ("survivor", 2)
    assert calls == ["doomed", "survivor"]
    assert survivor.stats()["lease_recoveries"] == 1
    assert not await doomed.leases.complete(stale, "late")  # the stale worker's late write is refused
    stored = await queue.get(job.id)
    assert stored is not None and stored.result == "survivor"


async def test_retries_with_backoff_then_fails(queue: JobQueue) -> None:
    attempts: list[float] = []

    async def always_fails(job: Job, control: JobControl) -> JSONValue:
        attempts.append(time.monotonic())
        raise ConnectionError(f"upstream down (attempt {control.attempt})")

    job = await queue.enqueue(new(max_attempts=3))
    async with JobWorker(queue, {KIND: always_fails}) as worker:
        await until(lambda: status_is(queue, job.id, "failed"))
    stored = await queue.get(job.id)
    assert stored is not None and stored.attempts == 3 and len(attempts) == 3
    assert stored.error == {"type": "ConnectionError", "message": "upstream down (attempt 3)"}
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap >= queue.settings.retry_base_s / 2 for gap in gaps)
    assert (worker.stats()["retried"], worker.stats()["failed"]) == (2, 1)


async def test_a_permanent_failure_is_not_retried(queue: JobQueue) -> None:
    async def bad_input(job: Job, control: JobControl) -> JSONValue:
        raise JobFailed("line 3: unknown model", code="model_not_found", retryable=False)

    job = await queue.enqueue(new())
    async with JobWorker(queue, {KIND: bad_input}):
        await until(lambda: status_is(queue, job.id, "failed"))
    stored = await queue.get(job.id)
    assert stored is not None and stored.attempts == 1
    assert stored.error == {"type": "JobFailed", "message": "line 3: unknown model",
                            "code": "model_not_found"}


async def test_cancel_while_queued_never_runs(queue: JobQueue) -> None:
    ran: list[str] = []

    async def record(job: Job, control: JobControl) -> JSONValue:
        ran.append(job.id)
        return None

    job = await queue.enqueue(new(delay_s=0.1))  # queued, not yet claimable
    await queue.request_cancel(job.id)
    async with JobWorker(queue, {KIND: record}):
        await asyncio.sleep(0.25)
    assert ran == [] and await status_is(queue, job.id, "cancelled")


@pytest.mark.parametrize("where", ["same process", "another replica"])
async def test_cancel_while_running_cancels_the_handler(
        queue: JobQueue, other_db: Database, where: str) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()
    reasons: list[str | None] = []

    async def waits(job: Job, control: JobControl) -> JSONValue:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            reasons.append(control.stop_reason)
            stopped.set()
        return None

    job = await queue.enqueue(new())
    async with JobWorker(queue, {KIND: waits}) as worker:
        await asyncio.wait_for(started.wait(), 5)
        canceller = queue if where == "same process" else JobQueue(other_db, queue.settings)
        cancelling = await canceller.request_cancel(job.id)
        assert cancelling is not None and cancelling.status == "cancelling"
        await asyncio.wait_for(stopped.wait(), 3)  # locally at once; else by the next heartbeat
        await until(lambda: status_is(queue, job.id, "cancelled"))
    assert reasons == ["cancel"] and worker.stats()["cancelled"] == 1


async def test_graceful_shutdown_finishes_short_jobs_and_releases_long_ones(queue: JobQueue) -> None:
    started = asyncio.Event()

    async def by_length(job: Job, control: JobControl) -> JSONValue:
        if job.payload["i"] == 1:
            started.set()
            await asyncio.sleep(0.1)
            return "short"
        await asyncio.Event().wait()
        return "never"

    short, long = await queue.enqueue_many([new(1), new(2)])
    worker = JobWorker(queue, {KIND: by_length}, worker_id="leaving")
    await worker.start()
    await asyncio.wait_for(started.wait(), 5)
    await until(lambda: status_is(queue, long.id, "in_progress"))
    began = time.monotonic()
    await worker.stop(wait_s=0.5)
    assert time.monotonic() - began < 2
    done, released = await queue.get(short.id), await queue.get(long.id)
    assert done is not None and done.result == "short"
    assert released is not None
    assert (released.status, released.attempts, released.lease_token) == ("queued", 0, None)
    assert worker.stats()["released"] == 1
    async with JobWorker(queue, {KIND: echo}, worker_id="next"):  # picked up at once, not after a lease
        await until(lambda: status_is(queue, long.id, "completed"), within_s=1)


async def test_stats_report_queue_depth_by_kind(queue: JobQueue) -> None:
    await queue.enqueue_many([new(i, delay_s=60) for i in range(3)])
    worker = JobWorker(queue, {KIND: echo, "response": echo})
    await worker.refresh_depth()
    stats = worker.stats()
    assert (stats["queued_batch_item"], stats["queued_response"], stats["queued"]) == (3, 0, 3)


async def test_shutdown_gives_up_a_handler_deaf_to_cancel(
        queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("corral.jobs.worker.STOP_GRACE_S", 0.1)
    started = asyncio.Event()

    async def deaf(job: Job, control: JobControl) -> JSONValue:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.Event().wait()  # ignores the first cancel; the second one ends it
        return None

    job = await queue.enqueue(new())
    worker = JobWorker(queue, {KIND: deaf})
    await worker.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(worker.stop(wait_s=0), 2)
    stored = await queue.get(job.id)
    assert stored is not None and (stored.status, stored.attempts) == ("queued", 0)
    assert worker.running == []


class FlakyLeases(Leases):
    """A database that fails the first claims and the first result write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claim_failures, self.write_failures = 2, 1

    async def claim(self, worker_id: str, kinds: Collection[str], limit: int) -> list[Job]:
        if self.claim_failures:
            self.claim_failures -= 1
            raise ConnectionError("database unreachable")
        return await super().claim(worker_id, kinds, limit)

    async def complete_many(self, done: Sequence[tuple[Job, JSONValue]]) -> set[str]:
        if self.write_failures:
            self.write_failures -= 1
            raise ConnectionError("database unreachable")
        return await super().complete_many(done)


async def test_a_failing_database_delays_work_but_loses_none(queue: JobQueue) -> None:
    job = await queue.enqueue(new(3))
    leases = FlakyLeases(queue.db, queue.settings)
    async with JobWorker(queue, {KIND: echo}, leases=leases, worker_id="w") as worker:
        await until(lambda: status_is(queue, job.id, "completed"))
    stored = await queue.get(job.id)
    assert stored is not None and (stored.result, stored.attempts) == ({"i": 3, "by": "w"}, 1)
    assert worker.stats()["db_errors"] == 3
