"""A background response whose job ended without it (a worker killed on every attempt, a job
expired in the queue) is settled: on the client's next read and by the maintenance sweep, with
its webhook event. Before, it stayed `in_progress` forever."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import delete, update

from corral.core.context import Caller
from corral.files.settings import FileSettings
from corral.jobs.errors import QueueFull
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.maintenance import Maintenance
from corral.responses import background
from corral.responses.errors import ResponseNotFound
from corral.responses.items import normalize_input
from corral.responses.service import Prepared
from corral.responses.store import ResponseStore, StoredResponse
from corral.store import Database
from corral.store.schema import jobs as jobs_table
from corral.store.testing import run_sync
from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.responses.server import client
from tests.responses.test_background import server  # noqa: F401 - the module's running gateway

CALLER = Caller("key_1", "k", "blue", frozenset({"inference"}))


async def _submitted(store: ResponseStore, jobs: JobQueue, response_id: str) -> None:
    body = {"id": response_id, "status": "in_progress", "background": True, "store": True,
            "previous_response_id": None, "output": []}
    await background.submit(store, jobs, Prepared(StoredResponse(body, normalize_input("x"), "blue")), CALLER)


async def _job_ends(db: Database, response_id: str, status: str) -> None:
    ended = update(jobs_table).where(jobs_table.c.id == response_id).values(status=status, attempts=3)
    await db.execute(ended)


@pytest.mark.asyncio
async def test_a_response_whose_job_failed_is_failed_once_with_its_event(migrated_db: Database) -> None:
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    await _submitted(store, jobs, "resp_dead")
    await _job_ends(migrated_db, "resp_dead", "failed")  # the lease recovery's verdict on a killed worker
    events: list[tuple[str, str, str]] = []

    async def notify(*event: str) -> None:
        events.append(event)

    settled = await background.settle_orphan(store, jobs, await store.get("resp_dead", "blue"), notify)
    assert settled.status == "failed"
    assert settled.body["error"]["code"] == "server_error"
    assert "failed after 3 attempt(s)" in settled.body["error"]["message"]
    assert events == [("response.failed", "resp_dead", "blue")]
    again = await background.settle_orphan(store, jobs, settled, notify)
    assert again.status == "failed" and len(events) == 1


@pytest.mark.asyncio
async def test_the_sweep_settles_ended_and_lost_jobs_and_leaves_live_ones(migrated_db: Database) -> None:
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    for name in ("resp_expired", "resp_cancelled", "resp_lost", "resp_running"):
        await _submitted(store, jobs, name)
    await _job_ends(migrated_db, "resp_expired", "expired")
    await _job_ends(migrated_db, "resp_cancelled", "cancelled")
    await migrated_db.execute(delete(jobs_table).where(jobs_table.c.id == "resp_lost"))
    events: list[Any] = []

    async def notify(*event: str) -> None:
        events.append(event)

    maintenance = Maintenance(migrated_db, jobs, files=_files(), notify=notify)
    report = await maintenance.purge(None, None)  # type: ignore[arg-type]
    assert report["orphaned_responses"] == {"settled": 3}  # type: ignore[index]
    status = {n: (await store.get(n, "blue")).status
              for n in ("resp_expired", "resp_cancelled", "resp_lost", "resp_running")}
    assert status == {"resp_expired": "failed", "resp_cancelled": "cancelled", "resp_lost": "failed",
                      "resp_running": "queued"}
    assert sorted(e[0] for e in events) == ["response.cancelled", "response.failed", "response.failed"]


def _files() -> FileSettings:
    return FileSettings()


def test_a_client_reading_a_response_whose_job_is_gone_gets_it_failed(
        server: RunningServer) -> None:  # noqa: F811
    """Through the SDK: the read settles it (the job row is gone: purged, or never written)."""
    sdk = client(server, new_key(server, "bg-orphan"))
    body = {"id": "resp_orphan0001", "object": "response", "status": "in_progress", "background": True,
            "store": True, "previous_response_id": None, "output": [], "model": "echo", "created_at": 1}

    async def orphan() -> None:
        db = await Database.connect(server.gateway.db.url)
        try:
            await ResponseStore(db).insert(StoredResponse(body, normalize_input("x"), "bg-orphan"))
        finally:
            await db.close()

    run_sync(orphan())
    found = sdk.responses.retrieve("resp_orphan0001")
    assert found.status == "failed"
    assert found.error is not None and "its job was lost" in found.error.message
    assert sdk.responses.retrieve("resp_orphan0001").status == "failed"


@pytest.mark.asyncio
async def test_a_background_response_and_its_job_become_visible_together(
        migrated_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """submit used to commit the response, then its job: the orphan sweep reading in between
    (a CI run once did, SQLite under load) failed a response whose job was about to exist."""
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    seen_before_the_job: list[str] = []
    insert_jobs = jobs._insert

    async def read_then_insert(tx: Any, rows: Any) -> Any:
        """What another connection sees just before the job's row is written."""
        try:
            seen_before_the_job.append((await store.get("resp_pair", "blue")).status)
        except ResponseNotFound:
            seen_before_the_job.append("absent")
        return await insert_jobs(tx, rows)

    monkeypatch.setattr(jobs, "_insert", read_then_insert)
    await _submitted(store, jobs, "resp_pair")
    assert seen_before_the_job == ["absent"]
    assert (await store.get("resp_pair", "blue")).status == "queued"
    assert (await jobs.get("resp_pair")) is not None


@pytest.mark.asyncio
async def test_a_refused_job_leaves_no_response_behind(migrated_db: Database) -> None:
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db, JobSettings(max_queued_per_team=1))
    await _submitted(store, jobs, "resp_first")
    with pytest.raises(QueueFull):
        await _submitted(store, jobs, "resp_second")
    with pytest.raises(ResponseNotFound):
        await store.get("resp_second", "blue")
    assert (await store.get("resp_first", "blue")).status == "queued"


@pytest.mark.asyncio
async def test_a_live_response_without_a_job_row_is_settled_at_once(migrated_db: Database) -> None:
    """Nothing writes one any more, so it is an orphan however new (its job was purged)."""
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    fresh = {"id": "resp_fresh", "status": "queued", "background": True, "store": True,
             "previous_response_id": None, "output": [], "created_at": int(time.time())}
    await store.insert(StoredResponse(fresh, normalize_input("x"), "blue"))
    settled = await background.settle_orphan(store, jobs, await store.get("resp_fresh", "blue"))
    assert settled.status == "failed"
