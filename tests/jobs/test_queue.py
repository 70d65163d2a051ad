"""JobQueue: enqueue with dedupe and limits, reading, counting, cancelling, retention."""

from __future__ import annotations

import asyncio

import pytest

from corral.jobs.errors import JobPayloadTooLarge, QueueFull
from corral.jobs.leases import Leases
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.jobs.types import NewJob
from corral.store.db import Database
from tests.jobs.conftest import FAST, FakeClock


def new(i: int = 0, **kw: object) -> NewJob:
    return NewJob(**{"kind": "response", "payload": {"i": i}, "team": "t1", **kw})  # type: ignore[arg-type]


async def test_enqueue_claim_complete_round_trip(queue: JobQueue) -> None:
    job = await queue.enqueue(new(1, key_id="key_a", priority=5))
    assert (job.status, job.attempts, job.payload, job.key_id) == ("queued", 0, {"i": 1}, "key_a")
    leases = Leases(queue.db, queue.settings)
    [claimed] = await leases.claim("w1", {"response"}, 10)
    assert (claimed.id, claimed.status, claimed.attempts) == (job.id, "in_progress", 1)
    assert claimed.lease_owner == "w1"
    assert await leases.claim("w2", {"response"}, 10) == []
    assert await leases.complete(claimed, {"answer": 42})
    done = await queue.get(job.id)
    assert done is not None
    assert (done.status, done.result, done.lease_token) == ("completed", {"answer": 42}, None)
    assert done.finished_at is not None and done.started_at is not None


async def test_claim_takes_only_its_kinds_and_highest_priority_first(queue: JobQueue) -> None:
    low = await queue.enqueue(new(1, kind="batch_item"))
    high = await queue.enqueue(new(2, kind="batch_item", priority=10))
    await queue.enqueue(new(3, kind="response"))
    leases = Leases(queue.db, queue.settings)
    claimed = await leases.claim("w", {"batch_item"}, 1)
    assert [j.id for j in claimed] == [high.id]
    assert [j.id for j in await leases.claim("w", {"batch_item"}, 5)] == [low.id]


async def test_dedupe_key_returns_the_existing_job_whatever_its_status(queue: JobQueue) -> None:
    first = await queue.enqueue(new(1, dedupe_key="req-1"))
    again = await queue.enqueue(new(2, dedupe_key="req-1"))
    assert again.id == first.id and again.payload == {"i": 1}
    leases = Leases(queue.db, queue.settings)
    [claimed] = await leases.claim("w", {"response"}, 1)
    await leases.complete(claimed, "done")
    after = await queue.enqueue(new(3, dedupe_key="req-1"))
    assert (after.id, after.status) == (first.id, "completed")
    other_team = await queue.enqueue(new(4, dedupe_key="req-1", team="t2"))
    other_kind = await queue.enqueue(new(5, dedupe_key="req-1", kind="batch"))
    assert len({first.id, other_team.id, other_kind.id}) == 3
    assert len(await queue.list()) == 3


async def test_concurrent_enqueues_of_one_dedupe_key_store_one_job(
        queue: JobQueue, other_db: Database) -> None:
    queues = [queue, JobQueue(other_db, queue.settings)]
    jobs = await asyncio.gather(*(queues[i % 2].enqueue(new(i, dedupe_key="same")) for i in range(12)))
    assert len({j.id for j in jobs}) == 1
    assert len(await queue.list()) == 1


async def test_enqueue_many_keeps_order_and_dedupes_within_the_call(queue: JobQueue) -> None:
    parent = await queue.enqueue(new(0, kind="batch"))
    items = [new(i, kind="batch_item", parent_id=parent.id, dedupe_key=f"{parent.id}:{i % 3}")
             for i in range(5)]
    jobs = await queue.enqueue_many(items)
    assert [j.payload["i"] for j in jobs] == [0, 1, 2, 0, 1]  # repeats get the first job of their key
    assert jobs[0].id == jobs[3].id and jobs[1].id == jobs[4].id
    assert (await queue.counts(parent.id)) == {"queued": 3}


async def test_enqueue_flood_is_bounded_per_team(jobs_db: Database) -> None:
    queue = JobQueue(jobs_db, JobSettings(**{**FAST, "max_queued_per_team": 3}))
    for i in range(3):
        await queue.enqueue(new(i))
    with pytest.raises(QueueFull) as refused:
        await queue.enqueue(new(9))
    assert refused.value.status_code == 429 and "max_queued_per_team" in refused.value.message
    assert refused.value.headers().get("retry-after")
    await queue.enqueue(new(9, team="t2"))  # other teams are not affected
    parent = (await queue.list(team="t1"))[0]
    await queue.enqueue_many([new(i, kind="batch_item", parent_id=parent.id) for i in range(10)])
    assert len(await queue.list(team="t1")) == 13  # a batch's items are bounded by its file, not here


async def test_concurrent_flood_never_overshoots_the_limit(jobs_db: Database, other_db: Database) -> None:
    settings = JobSettings(**{**FAST, "max_queued_per_team": 5})
    queues = [JobQueue(jobs_db, settings), JobQueue(other_db, settings)]
    results = await asyncio.gather(*(queues[i % 2].enqueue(new(i)) for i in range(12)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, QueueFull) for r in results if isinstance(r, BaseException))


async def test_oversized_payload_is_refused(jobs_db: Database) -> None:
    queue = JobQueue(jobs_db, JobSettings(**{**FAST, "max_payload_bytes": 1000}))
    with pytest.raises(JobPayloadTooLarge) as refused:
        await queue.enqueue(new(payload={"text": "x" * 2000}))
    assert refused.value.status_code == 413
    assert await queue.list() == []


async def test_cancel_while_queued_is_immediate_and_cascades_to_children(queue: JobQueue) -> None:
    parent = await queue.enqueue(new(0, kind="batch"))
    children = await queue.enqueue_many([new(i, kind="batch_item", parent_id=parent.id) for i in range(4)])
    leases = Leases(queue.db, queue.settings)
    [running] = await leases.claim("w", {"batch_item"}, 1)
    cancelled = await queue.request_cancel(parent.id)
    assert cancelled is not None and (cancelled.status, cancelled.cancel_requested) == ("cancelled", True)
    assert await queue.counts(parent.id) == {"cancelled": 3, "cancelling": 1}
    assert await leases.claim("w", {"batch_item"}, 10) == []
    assert await leases.cancelled(running)
    assert await queue.counts(parent.id) == {"cancelled": 4}
    assert len(children) == 4


async def test_cancel_children_of_a_finished_parent(queue: JobQueue) -> None:
    leases = Leases(queue.db, queue.settings)
    plan = await queue.enqueue(new(0, kind="batch_plan"))
    [claimed] = await leases.claim("w", {"batch_plan"}, 1)
    await queue.enqueue_many([new(i, kind="batch_item", parent_id=plan.id) for i in range(3)])
    await leases.complete(claimed, None)  # planning is over long before the items
    [running] = await leases.claim("w", {"batch_item"}, 1)
    assert (await queue.request_cancel(plan.id)) is not None
    assert await queue.counts(plan.id) == {"queued": 2, "in_progress": 1}  # a finished job: no cascade
    assert await queue.cancel_children(plan.id) == 3
    assert await queue.counts(plan.id) == {"cancelled": 2, "cancelling": 1}
    assert (await leases.heartbeat("w", {running.id: running.lease_token or ""})).cancelling == {running.id}
    assert await queue.cancel_children(plan.id) == 1  # still cancelling: asked again, harmless


async def test_cancel_of_a_finished_or_unknown_job_changes_nothing(queue: JobQueue) -> None:
    assert await queue.request_cancel("job_missing") is None
    job = await queue.enqueue(new())
    leases = Leases(queue.db, queue.settings)
    [claimed] = await leases.claim("w", {"response"}, 1)
    await leases.complete(claimed, 1)
    after = await queue.request_cancel(job.id)
    assert after is not None
    assert (after.status, after.cancel_requested, after.result) == ("completed", False, 1)


async def test_list_pages_by_creation_order_and_filters(queue: JobQueue, clock: FakeClock) -> None:
    queue.clock = clock
    parent = await queue.enqueue(new(kind="batch"))
    ids = []
    for i in range(7):
        clock.advance(1)
        ids.append((await queue.enqueue(new(i, kind="batch_item", parent_id=parent.id))).id)
    page1 = await queue.list(parent_id=parent.id, limit=3)
    page2 = await queue.list(parent_id=parent.id, limit=3, after=page1[-1].id)
    page3 = await queue.list(parent_id=parent.id, limit=3, after=page2[-1].id)
    assert [j.id for j in page1 + page2 + page3] == ids
    newest = await queue.list(kind="batch_item", newest_first=True, limit=2)
    assert [j.id for j in newest] == ids[:-3:-1]
    assert [j.id for j in await queue.list(kind="batch_item", newest_first=True, after=ids[1])] == [ids[0]]
    assert await queue.depth() == {"batch": 1, "batch_item": 7}


async def test_purge_keeps_recent_jobs_and_children_of_running_parents(
        queue: JobQueue, clock: FakeClock) -> None:
    queue.clock = clock
    leases = Leases(queue.db, queue.settings, clock=clock)
    parent = await queue.enqueue(new(kind="batch"))
    await queue.enqueue_many([new(i, kind="batch_item", parent_id=parent.id) for i in range(2)])
    old = await queue.enqueue(new(9))
    for job in await leases.claim("w", {"batch_item", "response"}, 10):
        await leases.complete(job, None)
    clock.advance(queue.settings.retention_s + 1)
    assert await queue.purge_finished() == 1  # the old response; the batch is still running
    assert await queue.get(old.id) is None
    [batch] = await leases.claim("w", {"batch"}, 1)
    await leases.complete(batch, None)
    assert await queue.purge_finished() == 2  # its items, now their parent is done
    clock.advance(queue.settings.retention_s + 1)
    assert await queue.purge_finished() == 1
    assert await queue.list() == []
