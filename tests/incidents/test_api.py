"""The report and review APIs end to end: who may do what, validation, floods, the attached request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from corral.incidents.store import IncidentStore
from tests.incidents.stack import Stack, stack_settings, started

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest_asyncio.fixture
async def stack(db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, db_url, None)
    async with started(settings) as running:
        yield running


async def _answer_id(stack: Stack, text: str = "hello there", role: str = "app") -> str:
    r = await stack.chat(text, role)
    assert r.status_code == 200, r.text
    await stack.records_flushed()
    return str(r.json()["id"])


async def _report(stack: Stack, body: dict[str, Any], role: str = "app") -> Any:
    return await stack.client.post("/v1/feedback", headers=stack.auth(role), json=body)


async def test_a_report_opens_an_incident_readable_with_its_request(stack: Stack) -> None:
    answer = await _answer_id(stack)
    r = await _report(stack, {"response_id": answer, "category": "wrong", "comment": "wrong capital"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rating"] is None and body["incident"]["opened"] and body["incident"]["severity"] == "low"
    incident_id = body["incident"]["id"]
    shown = (await stack.client.get(f"/admin/incidents/{incident_id}", headers=stack.auth("auditor"))).json()
    assert shown["request"]["request_id"] == "req_" + answer.removeprefix("chatcmpl-")
    assert shown["request"]["prompt"] is None  # content capture is off: nothing to attach
    assert shown["end_user"] == "end-user-7" and shown["team"] == "search" and shown["route"] == "echo"
    assert [n["text"] for n in shown["notes"]] == ["reported as wrong: wrong capital"]
    listed = (await stack.client.get("/admin/incidents?state=open&category=wrong",
                                     headers=stack.auth("reviewer"))).json()["data"]
    assert [i["id"] for i in listed] == [incident_id]


async def test_report_validation_and_the_other_team_rule(stack: Stack) -> None:
    answer = await _answer_id(stack)
    cases: list[tuple[dict[str, Any], str]] = [
                        ({"response_id": answer, "category": "rude"}, "category"),
                        ({"response_id": answer, "category": "harmful", "severity": "critical"}, "severity"),
                        ({"response_id": answer, "severity": "high", "rating": "down"}, "category"),
                        ({"response_id": answer, "category": ["harmful"]}, "category")]
    for body, param in cases:
        r = await _report(stack, body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
    r = await _report(stack, {"response_id": answer, "category": "harmful"}, role="other")
    assert r.status_code == 404
    assert await IncidentStore(stack.gateway.db).count() == 0
    plain = await _report(stack, {"response_id": answer, "rating": "up"})  # feedback without a report
    assert plain.status_code == 201 and "incident" not in plain.json()
    bare = await _report(stack, {"response_id": answer, "category": "data_leak"})  # a report alone
    assert bare.status_code == 201 and bare.json()["rating"] == "down"
    assert bare.json()["incident"]["severity"] == "high"


async def test_permissions_on_the_review_routes(stack: Stack) -> None:
    answer = await _answer_id(stack)
    reported = await _report(stack, {"response_id": answer, "category": "harmful"})
    incident_id = reported.json()["incident"]["id"]
    path = f"/admin/incidents/{incident_id}"
    for role in ("app", "other"):
        assert (await stack.client.get("/admin/incidents", headers=stack.auth(role))).status_code == 403
        assert (await stack.client.get(path, headers=stack.auth(role))).status_code == 403
    assert (await stack.client.get(path, headers=stack.auth("auditor"))).status_code == 200
    r = await stack.client.patch(path, headers=stack.auth("auditor"), json={"state": "triaged"})
    assert r.status_code == 403
    assert (await stack.client.post("/admin/input-rules", headers=stack.auth("auditor"),
                                    json={"pattern": "x"})).status_code == 403
    r = await stack.client.patch(path, headers=stack.auth("reviewer"),
                                 json={"state": "triaged", "assignee": "ana"})
    assert r.status_code == 200 and r.json()["state"] == "triaged" and r.json()["time_to_triage_s"] >= 0
    history = (await stack.client.get(path, headers=stack.auth("admin"))).json()["history"]
    assert [h["action"] for h in history] == ["incident.open", "incident.update"]


async def test_patch_refuses_unknown_fields_bad_values_bad_moves_and_huge_notes(stack: Stack) -> None:
    answer = await _answer_id(stack)
    reported = await _report(stack, {"response_id": answer, "category": "harmful"})
    incident_id = reported.json()["incident"]["id"]
    path = f"/admin/incidents/{incident_id}"

    async def patch(body: Any) -> Any:
        return await stack.client.patch(path, headers=stack.auth("reviewer"), json=body)

    r = await patch({"state": "triaged", "priority": 1, "colour": "red"})
    assert r.status_code == 400 and "colour, priority" in r.json()["error"]["message"]
    assert (await patch({"severity": "urgent"})).json()["error"]["param"] == "severity"
    assert (await patch({"note": "x" * 10_001})).status_code == 400
    assert (await patch({"note": "x" * 100_000})).status_code == 413  # over the body limit
    assert (await patch({"state": "dismissed", "note": "duplicate of another"})).status_code == 200
    r = await patch({"state": "triaged"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state_transition"
    assert "can move to: open" in r.json()["error"]["message"]
    assert (await stack.client.patch("/admin/incidents/inc_nope", headers=stack.auth("reviewer"),
                                     json={"state": "open"})).status_code == 404
    assert (await stack.client.get("/admin/incidents?severity=urgent",
                                   headers=stack.auth("reviewer"))).status_code == 400


async def test_a_flood_of_reports_on_one_answer_is_one_incident(stack: Stack) -> None:
    answer = await _answer_id(stack)
    results = await asyncio.gather(*(_report(stack, {"response_id": answer, "category": "harmful",
                                                     "comment": f"report {n}"}) for n in range(40)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["incident"]["id"] for r in results}) == 1
    (incident,) = await IncidentStore(stack.gateway.db).list()
    assert incident.reports == 40
    stats = (await stack.client.get("/admin/incidents/stats", headers=stack.auth("auditor"))).json()
    assert stats["incidents"] == 1 and stats["untriaged"] == 1


async def test_content_policy_events_join_the_review_queue(stack: Stack) -> None:
    for _ in range(3):
        r = await stack.chat("something the provider refuses", model="refusing")
        assert r.status_code == 400, r.text
    await stack.gateway.policy_events.flush()
    listed = (await stack.client.get("/admin/incidents?category=content_policy",
                                     headers=stack.auth("auditor"))).json()["data"]
    assert len(listed) == 1 and listed[0]["reports"] == 3 and listed[0]["severity"] == "low"
    assert listed[0]["source"] == "policy_event" and listed[0]["route"] == "refusing"
