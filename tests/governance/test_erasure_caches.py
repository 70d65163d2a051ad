"""Erasure beyond the tables: a stored response found by the end user in its body (its request
record not stored), the caches through the process's own cache, and what the receipt names as
out of reach in each case."""

from __future__ import annotations

from typing import Any

import orjson

from corral.governance.erasure import erase
from corral.governance.erasure_cache import Kind
from corral.store import Database, schema
from corral.store.kv import KVUnavailable
from tests.governance.test_erasure import NOW


async def _response(db: Database, rid: str, body: dict[str, Any]) -> None:
    await db.execute(schema.responses.insert(), [{
        "id": rid, "team": "growth", "key_id": "key_a", "status": "completed", "depth": 1,
        "conversation_bytes": 10, "body": orjson.dumps(body).decode(), "input_items": "[]",
        "created_at": NOW, "updated_at": NOW}])


async def test_a_stored_response_is_found_by_the_user_in_its_body(migrated_db: Database) -> None:
    db = migrated_db
    await _response(db, "resp_1", {"user": "frank", "safety_identifier": None, "text": "a"})
    await _response(db, "resp_2", {"user": "app-wide", "safety_identifier": "frank", "text": "b"})
    await _response(db, "resp_3", {"user": "grace", "metadata": "frank"})  # not a user field: kept
    receipt = await erase(db, user="frank", actor="cli:test")
    assert receipt.counts()["responses"] == 2
    assert [r["id"] for r in await db.fetch_all(schema.responses.select())] == ["resp_3"]
    assert (await erase(db, user="frank", actor="cli:test")).total == 0


class _Cache:
    def __init__(self) -> None:
        self.calls: list[tuple[Kind, str]] = []

    async def erase_owner(self, kind: Kind, value: str) -> dict[str, int]:
        self.calls.append((kind, value))
        return {"exact_cache": 3, "semantic_cache_index": 2}


async def test_the_caches_are_erased_and_their_limits_named(migrated_db: Database) -> None:
    cache = _Cache()
    receipt = await erase(migrated_db, request="req_1", actor="cli:test", cache=cache)
    assert cache.calls == [("request", "req_1")]
    assert {k: v for k, v in receipt.counts("deleted").items() if v} == {"exact_cache": 3,
                                                                         "semantic_cache_index": 2}
    limits = {n["store"] for n in receipt.not_erased}
    assert "semantic_cache_index" in limits and "exact_cache" not in limits  # other processes' rows
    without = await erase(migrated_db, request="req_1", actor="cli:test")
    named = {n["store"] for n in without.not_erased}
    assert {"exact_cache", "exact_cache_memory", "semantic_cache_index"} <= named


class _DownCache:
    async def erase_owner(self, kind: Kind, value: str) -> dict[str, int]:
        raise KVUnavailable("Redis DEL failed: ConnectionError")


async def test_a_cache_outage_does_not_stop_the_tables_erasure(migrated_db: Database) -> None:
    await _response(migrated_db, "resp_1", {"user": "frank"})
    receipt = await erase(migrated_db, user="frank", actor="cli:test", cache=_DownCache())
    assert receipt.counts()["responses"] == 1 and receipt.audit_id is not None
    reasons = {n["store"]: n["reason"] for n in receipt.not_erased}
    assert "run the erasure again" in reasons["exact_cache"]
