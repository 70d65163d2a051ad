"""The scheduled purge (SQLite and PostgreSQL): one job per slot across replicas, removing expired files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from corral.files.settings import FileSettings
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.maintenance import PURGE_KIND, Maintenance
from corral.store import Database
from corral.store.schema import utcnow


@pytest.fixture
async def parts(migrated_db: Database) -> AsyncIterator[tuple[Maintenance, Maintenance, FileStore]]:
    replicas = [Maintenance(migrated_db, JobQueue(migrated_db), FileSettings()) for _ in range(2)]
    yield replicas[0], replicas[1], FileStore(migrated_db)


async def test_replicas_offer_one_purge_per_slot(parts: tuple[Maintenance, Maintenance, FileStore]) -> None:
    first, second, _ = parts
    a = await first.offer(now=7200.0)
    b = await second.offer(now=7300.0)  # another replica, same hour
    c = await first.offer(now=10_900.0)  # the next hour
    assert a.id == b.id != c.id and a.kind == PURGE_KIND


async def test_the_purge_removes_expired_files_and_keeps_live_ones(
        parts: tuple[Maintenance, Maintenance, FileStore]) -> None:
    maintenance, _, files = parts
    past = FileStore(files.db, now=lambda: utcnow() - timedelta(days=40))
    # batch_output files expire after 30 days by default
    old = await past.create_from_bytes("team-a", "batch_output", "old.jsonl", b"{}\n")
    live = await files.create_from_bytes("team-a", "batch_output", "new.jsonl", b"{}\n")
    job = await maintenance.offer()
    report = await maintenance.purge(job, JobControl(job, "w"))
    assert isinstance(report, dict) and report["files"]["files"] == 1
    assert [f.id for f in (await files.list("team-a")).files] == [live.id]
    assert old.id != live.id


async def test_the_purge_removes_stored_responses_past_their_retention(
        parts: tuple[Maintenance, Maintenance, FileStore]) -> None:
    from corral.responses.settings import ResponseSettings
    from corral.store.schema import responses

    maintenance, _, files = parts
    maintenance.responses = ResponseSettings(retention_s=3600)
    for rid, age in (("resp_old", timedelta(hours=2)), ("resp_new", timedelta(minutes=5))):
        at = utcnow() - age
        await files.db.execute(responses.insert().values(
            id=rid, team="t", key_id=None, status="completed", previous_response_id=None, depth=1,
            conversation_bytes=2, body="{}", input_items="[]", created_at=at, updated_at=at))
    job = await maintenance.offer()
    report = await maintenance.purge(job, JobControl(job, "w"))
    assert isinstance(report, dict) and report["responses"] == {"responses": 1}
    left = await files.db.fetch_all(responses.select())
    assert [r["id"] for r in left] == ["resp_new"]
