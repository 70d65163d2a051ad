"""Leases: exclusive claims, fencing of stale workers, retries with backoff, recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from corral.jobs.leases import LEASE_EXPIRED_ERROR, Leases
from corral.jobs.queue import JobQueue
from corral.jobs.types import NewJob
from corral.store.db import Database
from tests.jobs.conftest import FakeClock


@pytest.fixture(autouse=True)
def _one_clock(queue: JobQueue, clock: FakeClock) -> None:
    queue.clock = clock  # jobs are enqueued on the clock the leases tests move


def new(i: int = 0, **kw: object) -> NewJob:
    return NewJob(**{"kind": "batch_item", "payload": {"i": i}, "team": "t", **kw})  # type: ignore[arg-type]


async def test_concurrent_claimers_never_share_a_job(queue: JobQueue, other_db: Database) -> None:
    await queue.enqueue_many([new(i) for i in range(120)])
    dbs = [queue.db, other_db]
    claimers = [Leases(dbs[i % 2], queue.settings) for i in range(6)]
    seen: list[str] = []

    async def drain(n: int) -> None:
        while jobs := await claimers[n].claim(f"w{n}", {"batch_item"}, 7):
            seen.extend(j.id for j in jobs)
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(n) for n in range(6)))
    assert len(seen) == 120 and len(set(seen)) == 120


async def test_a_claim_never_takes_more_than_its_limit(queue: JobQueue) -> None:
    await queue.enqueue_many([new(i) for i in range(40)])
    leases = Leases(queue.db, queue.settings)
    taken = 0
    for limit in (1, 3, 7, 1, 2):
        assert len(await leases.claim("w", {"batch_item"}, limit)) == limit
        taken += limit
        assert len(await queue.list(status="in_progress")) == taken  # none claimed behind our back


async def test_a_stale_worker_cannot_overwrite_the_new_holders_result(
        queue: JobQueue, clock: FakeClock) -> None:
    job = await queue.enqueue(new())
    leases = Leases(queue.db, queue.settings, clock=clock)
    [stale] = await leases.claim("dead", {"batch_item"}, 1)
    clock.advance(queue.settings.lease_s + 0.1)  # "dead" never renews
    recovered = await leases.recover()
    assert (recovered.requeued, recovered.total) == (1, 1)
    [fresh] = await leases.claim("alive", {"batch_item"}, 1)
    assert (fresh.id, fresh.attempts) == (job.id, 2)  # the lost attempt counts
    assert fresh.lease_token != stale.lease_token
    assert not await leases.complete(stale, "late answer")
    assert await leases.fail(stale, {"message": "late"}) is None
    assert not await leases.cancelled(stale)
    assert await leases.release([stale]) == 0
    assert (await leases.heartbeat("dead", {job.id: stale.lease_token or ""})).lost == {job.id}
    assert await leases.complete(fresh, "answer")
    assert not await leases.complete(fresh, "twice")  # an outcome is written once
    stored = await queue.get(job.id)
    assert stored is not None and (stored.status, stored.result) == ("completed", "answer")


async def test_heartbeat_renews_and_reports_cancels(queue: JobQueue, clock: FakeClock) -> None:
    a, b = await queue.enqueue_many([new(1), new(2)])
    leases = Leases(queue.db, queue.settings, clock=clock)
    held = {j.id: j.lease_token or "" for j in await leases.claim("w", {"batch_item"}, 2)}
    for _ in range(5):  # renewed every third of a lease, the job outlives many leases
        clock.advance(queue.settings.lease_s * 0.9)
        beat = await leases.heartbeat("w", held)
        assert (beat.lost, beat.cancelling) == (frozenset(), frozenset())
        assert (await leases.recover()).total == 0
    await queue.request_cancel(b.id)
    assert (await leases.heartbeat("w", held)).cancelling == {b.id}
    assert (await leases.heartbeat("other", held)).lost == frozenset()  # renews nothing, loses nothing
    assert a.id in held


async def test_failed_attempts_back_off_then_fail(queue: JobQueue, clock: FakeClock) -> None:
    job = await queue.enqueue(new(max_attempts=3))
    leases = Leases(queue.db, queue.settings, clock=clock)
    waits = []
    for attempt in (1, 2):
        [claimed] = await leases.claim("w", {"batch_item"}, 1)
        assert claimed.attempts == attempt
        assert await leases.fail(claimed, {"message": f"boom {attempt}"}) == "queued"
        stored = await queue.get(job.id)
        assert stored is not None and stored.error == {"message": f"boom {attempt}"}
        waits.append((stored.not_before - clock()).total_seconds())
        assert await leases.claim("w", {"batch_item"}, 1) == []  # not before the backoff
        clock.advance(waits[-1])
    settings = queue.settings
    assert settings.retry_base_s / 2 <= waits[0] <= settings.retry_base_s
    assert settings.retry_base_s <= waits[1] <= min(settings.retry_max_s, 2 * settings.retry_base_s)
    [last] = await leases.claim("w", {"batch_item"}, 1)
    assert await leases.fail(last, {"message": "boom 3"}) == "failed"
    stored = await queue.get(job.id)
    assert stored is not None and (stored.status, stored.attempts) == ("failed", 3)
    assert stored.finished_at is not None


async def test_backoff_grows_exponentially_to_its_cap(queue: JobQueue) -> None:
    leases = Leases(queue.db, queue.settings.model_copy(update={"retry_base_s": 1.0, "retry_max_s": 30.0}))
    for attempts, (low, high) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 5: (8, 16), 9: (15, 30)}.items():
        assert all(low <= leases.backoff_s(attempts) <= high for _ in range(50))


async def test_not_retryable_and_retry_after(queue: JobQueue, clock: FakeClock) -> None:
    a, b = await queue.enqueue_many([new(1), new(2)])
    leases = Leases(queue.db, queue.settings, clock=clock)
    ja, jb = sorted(await leases.claim("w", {"batch_item"}, 2), key=lambda j: j.payload["i"])
    assert await leases.fail(ja, {"message": "bad input"}, retryable=False) == "failed"
    assert await leases.fail(jb, {"message": "429"}, retry_after_s=60) == "queued"
    stored = await queue.get(b.id)
    assert stored is not None and stored.not_before - clock() >= timedelta(seconds=60)
    assert a.id == ja.id


async def test_recovery_fails_a_job_whose_last_attempt_lost_its_worker(
        queue: JobQueue, clock: FakeClock) -> None:
    job = await queue.enqueue(new(max_attempts=1))
    leases = Leases(queue.db, queue.settings, clock=clock)
    await leases.claim("dead", {"batch_item"}, 1)
    clock.advance(queue.settings.lease_s + 0.1)
    assert (await leases.recover()).failed == 1
    stored = await queue.get(job.id)
    assert stored is not None and (stored.status, stored.error) == ("failed", LEASE_EXPIRED_ERROR)


async def test_recovery_finishes_cancels_and_expires_deadlines(queue: JobQueue, clock: FakeClock) -> None:
    running = await queue.enqueue(new(1))
    stale = await queue.enqueue(new(2, kind="batch", expires_at=clock() + timedelta(seconds=5)))
    leases = Leases(queue.db, queue.settings, clock=clock)
    await leases.claim("dead", {"batch_item"}, 1)
    await queue.request_cancel(running.id)
    clock.advance(10)
    recovered = await leases.recover()
    assert (recovered.cancelled, recovered.expired, recovered.requeued) == (1, 1, 0)
    assert [(await queue.get(j.id)).status for j in (running, stale)] == ["cancelled", "expired"]  # type: ignore[union-attr]


async def test_release_gives_the_job_back_at_once_without_counting_the_attempt(queue: JobQueue) -> None:
    job, doomed = await queue.enqueue_many([new(1), new(2)])
    leases = Leases(queue.db, queue.settings)
    held = await leases.claim("w", {"batch_item"}, 2)
    await queue.request_cancel(doomed.id)
    assert await leases.release(held) == 2
    [again] = await leases.claim("w2", {"batch_item"}, 5)
    assert (again.id, again.attempts) == (job.id, 1)
    stored = await queue.get(doomed.id)
    assert stored is not None and stored.status == "cancelled"
