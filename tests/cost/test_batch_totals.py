"""Totals by batch and by vector store (the `job_id` in a record's extras JSON) on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from corral.cost.totals import batch_totals, totals
from corral.store import Database, migrate, schema

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
A, B = "batch_" + "a" * 32, "batch_" + "b" * 32
VS = "vs_" + "d" * 32
# (created_at, extras, status, input, output, cost)
ROWS: list[tuple[float, dict[str, Any], str, int, int, float | None]] = [
    (T0 + 1, {"job_id": A}, "ok", 7, 3, 0.001),
    (T0 + 2, {"job_id": A, "cache_key": "k"}, "ok", 7, 3, 0.002),
    (T0 + 3, {"job_id": A}, "error", 5, 0, 0.0),
    (T0 + 4, {"job_id": B}, "ok", 10, 1, None),
    (T0 + 5, {"job_id": "resp_" + "c" * 32}, "ok", 99, 99, 1.0),  # a background response: no batch
    (T0 + 6, {}, "ok", 50, 50, 0.5),  # a live request
    (T0 + 7, {"context_action": "job_id"}, "ok", 1, 1, 0.25),  # "job_id" in the text, not a batch
    (T0 + 8, {"job_id": VS}, "ok", 40, 0, 0.0),  # a vector store's ingestion embeddings
    (T0 + 9, {"job_id": VS}, "ok", 6, 0, 0.0),  # and a search's query embedding
]


def _row(i: int, row: tuple[float, dict[str, Any], str, int, int, float | None]) -> dict[str, Any]:
    created, extras, status, tokens_in, tokens_out, cost = row
    return {"request_id": f"r{i}", "created_at": datetime.fromtimestamp(created, UTC), "route": "chat",
            "requested_model": "m", "status": status, "http_status": 200, "stream": False,
            "input_tokens": tokens_in, "output_tokens": tokens_out, "cached_tokens": 0, "reasoning_tokens": 0,
            "usage_estimated": False, "latency_ms": 1.0, "cost_usd": cost, "priced": cost is not None,
            "cache_hit": False, "attempts": "[]", "extras": orjson.dumps(extras).decode()}


@pytest.fixture
async def records(db: Database) -> Database:
    await migrate(db)
    await db.execute(schema.requests.insert(), [_row(i, r) for i, r in enumerate(ROWS)])
    return db


async def test_totals_by_batch_count_only_batch_lines(records: Database) -> None:
    result = await totals(records, "batch")
    assert [r["batch"] for r in result] == [A, B]
    a, b = result
    assert a == {"batch": A, "requests": 3, "errors": 1, "cost_usd": 0.003, "unpriced_requests": 0,
                 "input_tokens": 19, "output_tokens": 6, "cached_tokens": 0, "reasoning_tokens": 0}
    assert b["cost_usd"] is None and b["unpriced_requests"] == 1, "unpriced is never $0"
    assert [r["batch"] for r in await totals(records, "batch", since=T0 + 3.5)] == [B]


async def test_totals_by_store_count_only_vector_store_embeddings(records: Database) -> None:
    [store] = await totals(records, "store")
    assert store["store"] == VS and store["requests"] == 2 and store["input_tokens"] == 46
    assert [r["batch"] for r in await totals(records, "batch")] == [A, B]  # a store is no batch


async def test_batch_totals_for_chosen_batches(records: Database) -> None:
    found = await batch_totals(records, [A, "batch_missing"], since=T0)
    assert set(found) == {A} and found[A]["requests"] == 3 and found[A]["cost_usd"] == 0.003
    assert await batch_totals(records, []) == {}
    assert await batch_totals(records, [A], since=T0 + 10) == {}


async def test_totals_by_tag_group_the_tagged_records_by_value(db: Database) -> None:
    """Cost attribution: the `metadata` a request carried (`extras.tags`), grouped by one key's value;
    untagged records and records tagged with other keys are left out."""
    await migrate(db)
    tagged = [(T0 + 1, {"tags": {"report_type": "credit-risk", "team": "x"}}, "ok", 10, 5, 0.01),
              (T0 + 2, {"tags": {"report_type": "credit-risk"}}, "ok", 10, 5, 0.02),
              (T0 + 3, {"tags": {"report_type": "kyc-refresh"}}, "error", 4, 0, 0.0),
              (T0 + 4, {"tags": {"other": "credit-risk"}}, "ok", 1, 1, 0.5),
              (T0 + 5, {}, "ok", 1, 1, 0.5)]
    await db.execute(schema.requests.insert(), [_row(i, r) for i, r in enumerate(tagged)])
    result = await totals(db, "tag", tag="report_type")
    assert [(r["tag"], r["requests"], r["cost_usd"], r["input_tokens"]) for r in result] == [
        ("credit-risk", 2, 0.03, 20), ("kyc-refresh", 1, 0.0, 4)]


@pytest.mark.parametrize("key", [None, "", "a'b", 'a"b', "x" * 65, "$.y"])
async def test_a_tag_key_that_is_not_a_plain_name_is_refused(records: Database, key: str | None) -> None:
    with pytest.raises(ValueError, match="tag key"):
        await totals(records, "tag", tag=key)
