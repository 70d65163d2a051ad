"""Erasure reaches incidents and their notes through the data map (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select

from corral.governance.erasure import erase
from corral.incidents.store import IncidentStore, Report
from corral.store.db import Database
from corral.store.schema import incident_notes, incidents


def _report(request_id: str, end_user: str | None, key_id: str = "key_app") -> Report:
    record = {"route": "gpt", "key_id": key_id, "end_user": end_user, "team": "search"}
    return Report(category="harmful", severity=None, request_id=request_id, response_id=None,
                  reporter_key_id="key_rep", team="search", record=record, text="my SSN is in the answer")


async def _count(db: Database, table: object) -> int:
    return int(await db.fetch_val(select(func.count()).select_from(table)))  # type: ignore[arg-type]


async def test_erasing_a_user_removes_their_incidents_and_notes(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    await store.report(_report("req_1", "user-42"))
    await store.report(_report("req_1", "user-42"))
    await store.report(_report("req_2", "someone-else"))
    receipt = await erase(migrated_db, user="user-42", actor="cli:test")
    assert receipt.counts("deleted")["incidents"] == 1
    assert receipt.counts("deleted")["incident_notes"] == 2
    assert await _count(migrated_db, incidents) == 1 and await _count(migrated_db, incident_notes) == 1
    again = await erase(migrated_db, user="user-42", actor="cli:test")
    assert again.counts("deleted")["incidents"] == 0


async def test_erasing_a_key_or_a_request_reaches_incidents_too(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    await store.report(_report("req_1", None, key_id="key_gone"))
    await store.report(_report("req_2", None))
    assert (await erase(migrated_db, key="key_gone", actor="cli:test")).counts("deleted")["incidents"] == 1
    assert (await erase(migrated_db, request="req_2", actor="cli:test")).counts("deleted")["incidents"] == 1
    assert await _count(migrated_db, incident_notes) == 0
