"""POST /v1/feedback and /admin/golden: validation, auth scopes and storage (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from corral.api import feedback as feedback_api
from corral.api import golden as golden_api
from corral.api.errors import handle_corral_error
from corral.auth.service import KeyService
from corral.config import Settings
from corral.core.errors import CorralError
from corral.observe.quality import FeedbackStore, GoldenStore
from corral.store.db import Database


@pytest_asyncio.fixture
async def api(migrated_db: Database) -> AsyncIterator[SimpleNamespace]:
    keys = KeyService(migrated_db, touch_interval_s=None)
    inference, _ = await keys.create("app", "search", ["inference"])
    admin, _ = await keys.create("ops", "platform", ["admin"])
    auditor, _ = await keys.create("audit", "compliance", ["auditor"])
    app = Starlette(
        routes=[
            Route("/v1/feedback", feedback_api.create_feedback, methods=["POST"]),
            Route("/admin/feedback", feedback_api.list_feedback, methods=["GET"]),
            Route("/admin/golden", golden_api.list_golden, methods=["GET"]),
            Route("/admin/golden", golden_api.create_golden, methods=["POST"]),
            Route("/admin/golden/{golden_id}", golden_api.delete_golden, methods=["DELETE"]),
        ],
        exception_handlers={CorralError: handle_corral_error},
    )
    # No privacy policy on.
    app.state.gateway = SimpleNamespace(db=migrated_db, keys=keys, privacy=None, settings=Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://corral") as client:
        yield SimpleNamespace(client=client, db=migrated_db,
                              inference={"authorization": f"Bearer {inference}"},
                              admin={"authorization": f"Bearer {admin}"},
                              auditor={"authorization": f"Bearer {auditor}"})


async def test_feedback_is_stored_with_the_callers_key_and_team(api: SimpleNamespace) -> None:
    r = await api.client.post("/v1/feedback", headers=api.inference, json={
        "response_id": "chatcmpl-abc123", "rating": "down", "score": 0.25,
        "comment": "wrong year", "correction": "It was 1969."})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["object"] == "feedback" and body["id"] and body["team"] == "search"
    stored = await FeedbackStore(api.db).list(request_id="req_abc123")
    assert len(stored) == 1
    item = stored[0]
    assert (item.response_id, item.rating, item.score, item.correction) == ("chatcmpl-abc123", "down", 0.25,
                                                                            "It was 1969.")
    assert item.key_id == body["key_id"] and item.key_id.startswith("key_")

    r = await api.client.post("/v1/feedback", headers=api.inference, json={"request_id": "req_x", "score": 1})
    assert r.status_code == 201
    assert [f.score for f in await FeedbackStore(api.db).list(request_id="req_x")] == [1.0]


@pytest.mark.parametrize(("payload", "param"), [
    ({"rating": "up"}, "response_id"),
    ({"response_id": "", "rating": "up"}, "response_id"),
    ({"request_id": 7, "rating": "up"}, "request_id"),
    ({"request_id": "req_1", "rating": "meh"}, "rating"),
    ({"request_id": "req_1", "score": 1.5}, "score"),
    ({"request_id": "req_1", "score": True}, "score"),
    ({"request_id": "req_1", "score": "0.5"}, "score"),
    ({"request_id": "req_1", "comment": ["x"]}, "comment"),
    ({"request_id": "req_1"}, "rating"),
])
async def test_feedback_validation_errors_are_openai_shaped(api: SimpleNamespace, payload: dict[str, Any],
                                                            param: str) -> None:
    r = await api.client.post("/v1/feedback", headers=api.inference, json=payload)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


async def test_feedback_refuses_unknown_fields_naming_them(api: SimpleNamespace) -> None:
    r = await api.client.post("/v1/feedback", headers=api.inference,
                              json={"request_id": "req_1", "rating": "up", "ratting": "down", "note": "x"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == "note"
    assert "'note'" in error["message"] and "'ratting'" in error["message"]
    assert await FeedbackStore(api.db).list() == []


async def test_feedback_needs_a_key_and_a_json_object(api: SimpleNamespace) -> None:
    r = await api.client.post("/v1/feedback", json={"request_id": "r", "rating": "up"})
    assert r.status_code == 401
    r = await api.client.post("/v1/feedback", headers=api.inference, content=b"[1]")
    assert r.status_code == 400
    assert await FeedbackStore(api.db).list() == []


async def test_golden_crud_over_the_admin_api(api: SimpleNamespace) -> None:
    r = await api.client.post("/admin/golden", headers=api.admin,
                              json={"route": "support", "question": "How do I reset my password?",
                                    "answer": "Open Settings, then Security, then Reset password."})
    assert r.status_code == 201, r.text
    created = r.json()
    await api.client.post("/admin/golden", headers=api.admin,
                          json={"route": "other", "question": "q", "answer": "a"})

    listed = (await api.client.get("/admin/golden", headers=api.admin, params={"route": "support"})).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert len((await api.client.get("/admin/golden", headers=api.admin)).json()["data"]) == 2

    r = await api.client.delete(f"/admin/golden/{created['id']}", headers=api.admin)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert (await api.client.delete(f"/admin/golden/{created['id']}", headers=api.admin)).status_code == 404
    assert [e.route for e in await GoldenStore(api.db).list()] == ["other"]


async def test_golden_api_validates_and_needs_admin(api: SimpleNamespace) -> None:
    r = await api.client.post("/admin/golden", headers=api.admin, json={"route": "support", "question": "q"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "answer"
    r = await api.client.delete("/admin/golden/abc", headers=api.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "golden_id"
    assert (await api.client.get("/admin/golden", headers=api.inference)).status_code == 403


async def test_feedback_on_another_teams_request_is_refused(api: SimpleNamespace) -> None:
    """A team cannot score (or comment on) another team's answers: its quality signals are its own."""
    from corral.observe.queries import BatchInserter, record_row
    from tests.observe.test_sink_support import make_record

    theirs = make_record(7, team="growth")
    ours = make_record(8, team="search")
    writer = BatchInserter(api.db)
    await writer.insert([record_row(theirs), record_row(ours)])
    await writer.close()
    for ids in ({"request_id": theirs.request_id}, {"response_id": "chatcmpl-" + theirs.request_id[4:]}):
        r = await api.client.post("/v1/feedback", headers=api.inference, json={**ids, "rating": "down"})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["param"] == next(iter(ids))
    assert await FeedbackStore(api.db).list(request_id=theirs.request_id) == []
    r = await api.client.post("/v1/feedback", headers=api.inference,
                              json={"request_id": ours.request_id, "rating": "up"})
    assert r.status_code == 201, r.text


async def test_stored_feedback_reads_back_filtered_for_record_readers(api: SimpleNamespace) -> None:
    """Issue 15 item 7: POST /v1/feedback stored what GET /admin/feedback now returns."""
    for body in ({"request_id": "req_a", "rating": "down", "comment": "wrong year"},
                 {"request_id": "req_b", "rating": "up"},
                 {"response_id": "chatcmpl-a", "score": 0.5}):
        assert (await api.client.post("/v1/feedback", headers=api.inference, json=body)).status_code == 201
    listed = await api.client.get("/admin/feedback", headers=api.auditor)
    assert listed.status_code == 200, listed.text
    data = listed.json()["data"]
    # Newest first.
    assert [d["request_id"] or d["response_id"] for d in data] == ["chatcmpl-a", "req_b", "req_a"]
    assert data[2]["comment"] == "wrong year" and data[2]["team"] == "search"
    down = (await api.client.get("/admin/feedback?rating=down", headers=api.admin)).json()["data"]
    assert [d["request_id"] for d in down] == ["req_a"]
    one = (await api.client.get("/admin/feedback?request_id=req_a", headers=api.auditor)).json()["data"]
    # A response id names the request too.
    assert {d["request_id"] or d["response_id"] for d in one} == {"req_a", "chatcmpl-a"}
    other = await api.client.get("/admin/feedback?team=other&limit=1", headers=api.auditor)
    assert other.json()["data"] == []
    assert (await api.client.get("/admin/feedback?since=1h", headers=api.auditor)).json()["data"]
    denied = await api.client.get("/admin/feedback", headers=api.inference)
    assert denied.status_code == 403 and "records.read" in denied.json()["error"]["message"]


@pytest.mark.parametrize(("query", "param"), [
    ("rating=meh", "rating"), ("limit=0", "limit"), ("limit=5000", "limit"), ("since=yesterday", "since"),
    ("user=alice", "user"),
])
async def test_feedback_list_refuses_bad_or_unknown_parameters(api: SimpleNamespace, query: str,
                                                               param: str) -> None:
    r = await api.client.get(f"/admin/feedback?{query}", headers=api.auditor)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
