"""Stored responses on SQLite and PostgreSQL: team scoping, chains, deletion, limits, purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from corral.core.errors import InvalidRequest
from corral.responses import store as store_module
from corral.responses.errors import ResponseNotFound
from corral.responses.items import normalize_input
from corral.responses.output import message_item
from corral.responses.store import ResponseStore, StoredResponse, page_items, purge_older_than
from corral.store import Database
from corral.store.schema import utcnow


def _response(n: int, previous: str | None = None, team: str = "blue", status: str = "completed",
              depth: int = 1) -> StoredResponse:
    body: dict[str, Any] = {"id": f"resp_{n}", "status": status, "previous_response_id": previous,
                            "output": [message_item(f"answer {n}", "completed")]}
    return StoredResponse(body, normalize_input(f"question {n}"), team, "key_1", depth=depth)


async def _chain(store: ResponseStore, length: int, team: str = "blue") -> None:
    for n in range(1, length + 1):
        await store.insert(_response(n, f"resp_{n - 1}" if n > 1 else None, team, depth=n))


@pytest.mark.asyncio
async def test_a_response_is_read_only_by_its_team(migrated_db: Database) -> None:
    store = ResponseStore(migrated_db)
    await store.insert(_response(1))
    assert (await store.get("resp_1", "blue")).body["output"][0]["content"][0]["text"] == "answer 1"
    for team, response_id in (("red", "resp_1"), ("blue", "resp_missing")):
        with pytest.raises(ResponseNotFound) as caught:
            await store.get(response_id, team)
        assert caught.value.status_code == 404 and caught.value.message == \
            f"Response with id '{response_id}' not found."
        with pytest.raises(ResponseNotFound):
            await store.delete(response_id, team)
        with pytest.raises(ResponseNotFound) as caught:
            await store.conversation(response_id, team)
        assert caught.value.param == "previous_response_id"
    await store.delete("resp_1", "blue")
    with pytest.raises(ResponseNotFound):
        await store.get("resp_1", "blue")


@pytest.mark.asyncio
async def test_a_conversation_loads_oldest_first_in_one_query(migrated_db: Database) -> None:
    store = ResponseStore(migrated_db)
    await _chain(store, 3)
    last, items = await store.conversation("resp_3", "blue")
    assert last.id == "resp_3" and last.depth == 3
    texts = [i["content"][0]["text"] for i in items]
    assert texts == ["question 1", "answer 1", "question 2", "answer 2", "question 3", "answer 3"]


@pytest.mark.asyncio
async def test_a_deleted_link_or_an_unfinished_response_cannot_be_continued(migrated_db: Database) -> None:
    store = ResponseStore(migrated_db)
    await _chain(store, 3)
    await store.delete("resp_2", "blue")
    with pytest.raises(InvalidRequest, match="was deleted"):
        await store.conversation("resp_3", "blue")
    await store.insert(_response(9, status="failed"))
    with pytest.raises(InvalidRequest, match="is failed"):
        await store.conversation("resp_9", "blue")


@pytest.mark.asyncio
async def test_a_chain_past_the_limit_is_refused(migrated_db: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_CHAIN", 3)
    store = ResponseStore(migrated_db)
    await _chain(store, 3)
    await store.conversation("resp_2", "blue")  # a third response may follow
    with pytest.raises(InvalidRequest, match="limit is 3") as caught:
        await store.conversation("resp_3", "blue")
    assert caught.value.param == "previous_response_id"


@pytest.mark.asyncio
async def test_update_only_from_the_given_states(migrated_db: Database) -> None:
    store = ResponseStore(migrated_db)
    queued = _response(1, status="queued")
    await store.insert(queued)
    queued.body["status"] = "cancelled"
    assert await store.update(queued, only_from=("queued", "in_progress"))
    queued.body["status"] = "completed"
    assert not await store.update(queued, only_from=("queued", "in_progress")), "cancelled stays cancelled"
    assert (await store.get("resp_1", "blue")).status == "cancelled"


@pytest.mark.asyncio
async def test_purge_older_than_removes_by_age(migrated_db: Database) -> None:
    now = utcnow()
    old = ResponseStore(migrated_db, now=lambda: now - timedelta(days=31))
    await old.insert(_response(1))
    await old.insert(_response(2))
    await ResponseStore(migrated_db).insert(_response(3))
    assert await purge_older_than(migrated_db, now - timedelta(days=30)) == 2
    assert (await ResponseStore(migrated_db).get("resp_3", "blue")).id == "resp_3"


def test_paging_input_items() -> None:
    items = normalize_input([{"role": "user", "content": str(i)} for i in range(5)])
    ids = [i["id"] for i in items]
    page, more = page_items(items, limit=2, order="desc", after=None)
    assert [i["id"] for i in page] == ids[:2:-1][:2] and more
    page, more = page_items(items, limit=2, order="desc", after=ids[1])
    assert [i["id"] for i in page] == [ids[0]] and not more
    page, more = page_items(items, limit=10, order="asc", after=ids[2])
    assert [i["id"] for i in page] == ids[3:] and not more
    with pytest.raises(InvalidRequest) as caught:
        page_items(items, limit=2, order="asc", after="msg_nope")
    assert caught.value.param == "after"
