"""A crash while a batch is finalized: the batch must still close, with one output file.

The process dies after the output file was committed but before the batch was closed with
it; the `batch_check` job's lease lapses and the check runs again, writing the files anew.
The first run's file is then named by nothing: before the fix it stayed in the team's
file list (and quota) for `files.default_expiry_s`, 30 days. And a check that dies on each
of the queue's `jobs.max_attempts` (3) used to end `failed` with no check after it: the
batch stayed `finalizing` (or `in_progress`) for good.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from corral.batches.runner import BatchRunner, LineOutcome, LineRequest
from corral.batches.store import BatchStore
from corral.batches.types import FINAL, Batch, Submitter
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.leases import Leases
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.jobs.types import Job, NewJob
from corral.store import Database
from corral.store.schema import utcnow
from tests.jobs.conftest import FakeClock

TEAM = "team-a"


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


async def _unused(line: LineRequest) -> LineOutcome:
    raise AssertionError("no line is served here")


async def _batch_with_answers(db: Database, runner: BatchRunner, n: int) -> Batch:
    now = utcnow()
    batch = Batch(id="batch_crash", submitter=Submitter("key_1", "app", TEAM, ("inference",)),
                  endpoint="/v1/chat/completions", input_file_id="file-in", completion_window="24h",
                  status="in_progress", created_at=now, expires_at=now + timedelta(days=1), total=n)
    await runner.store.create(batch)
    await runner.queue.enqueue_many([NewJob("batch_item", {"custom_id": f"c{i}"}, team=TEAM,
                                            parent_id=batch.id, id=f"{batch.id}-{i:07d}") for i in range(n)])
    leases = Leases(db, runner.queue.settings)
    done = await leases.claim("w", ["batch_item"], n)
    body = {"usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    await leases.complete_many([(job, {"response": {"status_code": 200, "request_id": "r", "body": body}})
                                for job in done])
    return batch


def _check_job(batch: Batch) -> Job:
    return Job(id="job_check", kind="batch_check", team=TEAM, key_id="key_1",
               payload={"batch_id": batch.id, "round": 3}, status="in_progress", priority=0,
               attempts=1, max_attempts=3, not_before=utcnow(), created_at=utcnow())


def _killed_when_closing(runner: BatchRunner, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every close of the batch die as SIGKILL would; returns the real `move`."""
    move = runner.store.move

    async def killed_before_closing(batch_id: str, from_statuses: Any, to: Any, **values: Any) -> bool:
        if to in FINAL:
            raise Killed
        return await move(batch_id, from_statuses, to, **values)

    monkeypatch.setattr(runner.store, "move", killed_before_closing)
    return move


async def test_a_finalize_killed_after_writing_its_files_leaves_no_second_output_file(
        migrated_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = BatchRunner(BatchStore(migrated_db), JobQueue(migrated_db), FileStore(migrated_db), _unused,
                         route_of=lambda model: model)
    batch = await _batch_with_answers(migrated_db, runner, 3)
    move = _killed_when_closing(runner, monkeypatch)
    job = _check_job(batch)
    with pytest.raises(Killed):
        await runner.check(job, JobControl(job, "w1"))
    monkeypatch.setattr(runner.store, "move", move)
    assert (await runner.store.load(batch.id)).status == "finalizing"  # type: ignore[union-attr]

    rerun = replace(job, attempts=2)  # its lease lapsed: another worker runs the check again
    assert await runner.check(rerun, JobControl(rerun, "w2")) == {"status": "completed"}
    closed = await runner.store.load(batch.id)
    assert closed is not None and closed.status == "completed" and closed.output_file_id
    page = await runner.files.list(TEAM, purpose="batch_output")
    assert [f.id for f in page.files] == [closed.output_file_id], "the killed run's file is gone"
    lines = (await runner.files.read(closed.output_file_id, TEAM)).splitlines()
    assert len(lines) == 3


async def test_a_check_killed_on_every_attempt_the_queue_allows_still_closes_the_batch(
        migrated_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    settings = JobSettings(lease_s=1.0)  # max_attempts: the default 3
    queue = JobQueue(migrated_db, settings, clock=clock)
    runner = BatchRunner(BatchStore(migrated_db), queue, FileStore(migrated_db), _unused,
                         route_of=lambda model: model)
    batch = await _batch_with_answers(migrated_db, runner, 2)
    await runner._check_later(batch, 0)
    leases = Leases(migrated_db, settings, clock=clock)
    move = _killed_when_closing(runner, monkeypatch)
    for _ in range(settings.max_attempts):
        [check] = await leases.claim("w", {"batch_check"}, 1)
        with pytest.raises(Killed):
            await runner.check(check, JobControl(check, "w"))
        clock.advance(settings.lease_s + 0.1)  # the killed worker never renews its lease
        await leases.recover()
    monkeypatch.setattr(runner.store, "move", move)
    claimed = await leases.claim("w", {"batch_check"}, 1)
    assert claimed, "the check was given up: nothing would ever close the batch"
    assert await runner.check(claimed[0], JobControl(claimed[0], "w")) == {"status": "completed"}
    closed = await runner.store.load(batch.id)
    assert closed is not None and closed.status == "completed"
    page = await runner.files.list(TEAM, purpose="batch_output")
    assert [f.id for f in page.files] == [closed.output_file_id]
