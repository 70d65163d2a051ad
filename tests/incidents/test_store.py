"""Incidents in the store: open or attach, floods, policy-event grouping, review changes, stats."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from corral.core.errors import InvalidRequest
from corral.governance.audit import AuditLog
from corral.incidents.model import Conflict
from corral.incidents.review import apply_change, parse_change
from corral.incidents.store import MAX_REPORT_NOTES, IncidentStore, Report
from corral.store.db import Database
from corral.store.schema import incident_notes, incidents

RECORD = {"route": "gpt", "key_id": "key_app", "end_user": "user-42", "team": "search"}


def report(request_id: str = "req_1", category: str = "harmful", severity: str | None = None,
           text: str | None = "it told me how to hurt someone") -> Report:
    return Report(category=category, severity=severity, request_id=request_id, response_id=None,
                  reporter_key_id="key_rep", team="search", record=RECORD, text=text)


async def _keep(_: Any, text: str) -> str:
    return text


async def test_a_report_opens_an_incident_and_more_reports_attach(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    first = await store.report(report(category="wrong"))
    assert first.opened and first.incident.severity == "low" and first.incident.end_user == "user-42"
    again = await store.report(report(category="harmful"))
    assert not again.opened and again.raised and again.incident.id == first.incident.id
    stored = await store.get(first.incident.id)
    assert stored is not None and stored.reports == 2 and stored.severity == "high"
    lower = await store.report(report(category="wrong", severity="low"))
    assert not lower.raised and (await store.get(first.incident.id)).severity == "high"  # type: ignore[union-attr]
    assert [n["kind"] for n in await store.notes(first.incident.id)] == ["report"] * 3


async def test_a_flood_of_reports_on_one_request_is_one_incident_with_capped_notes(
        migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    for _ in range(60):
        await store.report(report(text="x" * 5000))
    assert await store.count() == 1
    (incident,) = await store.list()
    assert incident.reports == 60
    assert len(await store.notes(incident.id)) == MAX_REPORT_NOTES


async def test_a_closed_incident_is_not_reopened_by_a_new_report(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    first = (await store.report(report())).incident
    await apply_change(migrated_db, first.id, parse_change({"state": "resolved"}), actor="key_rev",
                       actor_name="rev", store_note=_keep)
    second = await store.report(report())
    assert second.opened and second.incident.id != first.id


async def test_policy_events_group_by_team_route_and_category(migrated_db: Database) -> None:
    def event(category: str, route: str = "gpt") -> Any:
        return SimpleNamespace(request_id="req_e", route=route, category=category, team="search",
                               key_id="key_app")

    store = IncidentStore(migrated_db)
    out = await store.absorb_events([event("violence"), event("violence"), event("self_harm")])
    assert sorted(a.opened for a in out) == [True, True]
    await store.absorb_events([event("violence")] * 5)
    listed = {i.detail: i for i in await store.list(category="content_policy")}
    assert listed["violence"].reports == 7 and listed["self_harm"].reports == 1
    assert {i.severity for i in listed.values()} == {"low"} and await store.count() == 2


async def test_review_changes_are_validated_stamped_and_audited(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    incident = (await store.report(report())).incident
    before, after = await apply_change(migrated_db, incident.id,
                                       parse_change({"state": "triaged", "assignee": "ana",
                                                     "note": "looking"}),
                                       actor="key_rev", actor_name="rev", store_note=_keep)
    assert before.state == "open" and after.state == "triaged" and after.triaged_at is not None
    assert after.to_dict()["time_to_triage_s"] >= 0
    with pytest.raises(Conflict) as refused:
        await apply_change(migrated_db, incident.id, parse_change({"state": "resolved"}), actor="k",
                           actor_name=None, store_note=_keep)
        await apply_change(migrated_db, incident.id, parse_change({"state": "triaged"}), actor="k",
                           actor_name=None, store_note=_keep)
    assert refused.value.status_code == 409 and "can move to: open" in refused.value.message
    entries = [e for e in await AuditLog(migrated_db).entries(action="incident.update")
               if e.target == incident.id]
    assert len(entries) == 2
    assert entries[-1].to_dict()["after"] == {"assignee": "ana", "state": "triaged",
                                              "triaged_at": after.to_dict()["triaged_at"],
                                              "note_chars": 7}
    assert (await AuditLog(migrated_db).verify()).ok


@pytest.mark.parametrize(("body", "param"), [
    ({"state": "closed"}, "state"), ({"severity": "urgent"}, "severity"), ({"assignee": 5}, "assignee"),
    ({"note": "x" * 10_001}, "note"), ({"note": ""}, "note"), ({"colour": "red", "state": "open"}, "colour"),
    ({}, None),
])
def test_bad_changes_name_the_field(body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_change(body)
    assert refused.value.param == param


async def test_time_to_triage_median_and_p90(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    for n, wait_s in enumerate([10, 20, 30, 40, 100]):
        incident = (await store.report(report(request_id=f"req_{n}"))).incident
        async with migrated_db.transaction() as tx:
            await tx.execute(update(incidents).where(incidents.c.id == incident.id).values(
                state="triaged", triaged_at=incident.created_at + timedelta(seconds=wait_s)))
    await store.report(report(request_id="req_untriaged"))
    stats = await store.stats(None)
    assert stats["incidents"] == 6 and stats["untriaged"] == 1
    assert stats["time_to_triage_s"]["median"] == pytest.approx(30, abs=0.01)
    assert stats["time_to_triage_s"]["p90"] == pytest.approx(100, abs=0.01)
    assert stats["time_to_triage_high_s"]["count"] == 5


async def test_notes_go_with_their_incident(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    incident = (await store.report(report())).incident
    await migrated_db.execute(incidents.delete().where(incidents.c.id == incident.id))
    assert await migrated_db.fetch_all(select(incident_notes)) == []


async def test_concurrent_reports_on_one_request_open_one_incident(migrated_db: Database) -> None:
    store = IncidentStore(migrated_db)
    results = await asyncio.gather(*(store.report(report()) for _ in range(20)))
    assert sum(r.opened for r in results) == 1 and await store.count() == 1
    (incident,) = await store.list()
    assert incident.reports == 20
