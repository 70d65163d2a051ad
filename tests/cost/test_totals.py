"""Totals by key, team, route, model and day on SQLite and PostgreSQL.

Run against the migrated `requests` table (created_at a UTC timestamp) and against a
stand-in table whose created_at is unix seconds, so the queries hold for either shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table

from corral.cost.totals import requests_table, throughput, totals
from corral.store import Database, migrate, schema

DAY1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
DAY2 = DAY1 + 86400
DAY3 = DAY2 + 86400

md = MetaData()
seconds_table = Table(
    "cost_test_requests",
    md,
    Column("request_id", String(128), primary_key=True),
    Column("created_at", Float, nullable=False),  # unix seconds
    Column("key_id", String(64)),
    Column("team", String(200)),
    Column("route", String(200), nullable=False),
    Column("served_model", String(300)),
    Column("deployment", String(300)),
    Column("status", String(16), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("cost_usd", Float),
    Column("priced", Boolean, nullable=False),
)

NAMES = ("created_at", "key_id", "team", "route", "served_model", "deployment", "status",
         "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost_usd")
ROWS = [
    (DAY1 + 10, "key_a", "team_x", "chat", "gpt-4o", "openai/gpt-4o", "ok", 1000, 100, 0, 0, 0.0035),
    (DAY1 + 86399.5, "key_a", "team_x", "chat", "gpt-4o-mini", "openai/gpt-4o-mini", "ok",
     2000, 200, 500, 0, 0.000375),
    (DAY2, "key_b", "team_y", "chat", "gpt-4o", "openai/gpt-4o", "error", 500, 0, 0, 0, 0.0),
    (DAY2 + 3600, "key_b", "team_y", "summarize", "llama-local", "gpu/llama-local", "ok",
     300, 50, 0, 0, None),
    (DAY2 + 7200, None, None, "summarize", None, None, "error", 0, 0, 0, 0, 0.0),
    (DAY3 + 5, "key_a", "team_x", "chat", "o4-mini", "openai/o4-mini", "ok", 100, 1000, 0, 800, 0.00451),
]


@dataclass
class Store:
    db: Database
    table: Any


def _real_row(i: int, row: dict[str, Any]) -> dict[str, Any]:
    """A full row of the migrated table (its NOT NULL columns filled with neutral values)."""
    return {**row, "created_at": datetime.fromtimestamp(row["created_at"], UTC),
            "requested_model": row["served_model"] or "x", "http_status": 200, "stream": False,
            "usage_estimated": False, "latency_ms": 1.0, "cache_hit": False, "attempts": "[]", "extras": "{}"}


@pytest.fixture(params=["timestamp", "seconds"])
async def store(request: pytest.FixtureRequest, db: Database) -> Store:
    rows = [{"request_id": f"r{i}", **dict(zip(NAMES, row, strict=True)), "priced": row[-1] is not None}
            for i, row in enumerate(ROWS)]
    if request.param == "seconds":
        async with db.transaction() as tx:
            await tx.connection.run_sync(md.create_all)
        await db.execute(seconds_table.insert(), rows)
        return Store(db, seconds_table)
    if getattr(schema, "requests", None) is None:
        pytest.skip("the requests table migration has not landed")
    await migrate(db)
    await db.execute(schema.requests.insert(), [_real_row(i, r) for i, r in enumerate(rows)])
    return Store(db, None)  # None: totals' default, the migrated table


def by(result: list[dict[str, Any]], name: str) -> dict[Any, dict[str, Any]]:
    return {r[name]: r for r in result}


async def test_totals_by_key(store: Store) -> None:
    result = await totals(store.db, "key", table=store.table)
    assert [r["key"] for r in result] == ["key_a", "key_b", None]  # None (no key) last
    a = by(result, "key")["key_a"]
    # 0.0035 + 0.000375 + 0.00451 = 0.008385
    assert a == {"key": "key_a", "requests": 3, "errors": 0, "cost_usd": 0.008385, "unpriced_requests": 0,
                 "input_tokens": 3100, "output_tokens": 1300, "cached_tokens": 500, "reasoning_tokens": 800}
    b = by(result, "key")["key_b"]
    assert (b["requests"], b["errors"], b["cost_usd"], b["unpriced_requests"]) == (2, 1, 0.0, 1)


async def test_totals_by_team_route_and_model(store: Store) -> None:
    teams = by(await totals(store.db, "team", table=store.table), "team")
    assert set(teams) == {"team_x", "team_y", None}
    assert teams["team_y"]["cost_usd"] == 0.0 and teams["team_y"]["unpriced_requests"] == 1
    routes = by(await totals(store.db, "route", table=store.table), "route")
    assert routes["chat"]["requests"] == 4 and routes["summarize"]["requests"] == 2
    assert routes["chat"]["cost_usd"] == 0.008385
    models = by(await totals(store.db, "model", table=store.table), "model")
    # a group with nothing priced is None, never $0
    assert models["llama-local"]["cost_usd"] is None and models["llama-local"]["unpriced_requests"] == 1
    assert models["gpt-4o"]["cost_usd"] == 0.0035 and models["gpt-4o"]["errors"] == 1


async def test_totals_by_day_buckets_utc_days(store: Store) -> None:
    days = await totals(store.db, "day", table=store.table)
    assert [(d["day"], d["requests"]) for d in days] == [
        ("2026-03-01", 2), ("2026-03-02", 3), ("2026-03-03", 1)]
    assert days[0]["cost_usd"] == 0.003875  # 0.0035 + 0.000375 (the 23:59:59.5 request stays on day 1)
    assert days[1]["unpriced_requests"] == 1


async def test_totals_window_is_half_open(store: Store) -> None:
    until = datetime.fromtimestamp(DAY3, UTC)
    result = await totals(store.db, "team", since=DAY2, until=until, table=store.table)
    assert {r["team"]: r["requests"] for r in result} == {"team_y": 2, None: 1}
    assert await totals(store.db, "key", since=DAY3 + 6, table=store.table) == []


async def test_totals_rejects_bad_arguments(store: Store) -> None:
    with pytest.raises(ValueError):
        await totals(store.db, "provider", table=store.table)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await totals(store.db, "key", since=datetime(2026, 3, 1), table=store.table)  # naive datetime


async def test_measured_throughput_counts_idle_time(store: Store) -> None:
    # gpu/llama-local served 300 + 50 tokens in the two hours from DAY2
    tps = await throughput(store.db, "gpu/llama-local", DAY2, DAY2 + 7200, table=store.table)
    assert tps == pytest.approx(350 / 7200)
    out = await throughput(store.db, "gpu/llama-local", DAY2, DAY2 + 7200, counts="output", table=store.table)
    assert out == pytest.approx(50 / 7200)
    assert await throughput(store.db, "gpu/other", DAY2, DAY3, table=store.table) is None


def test_totals_columns_exist_in_the_real_requests_table() -> None:
    from corral.store import schema

    real = schema.metadata.tables.get("requests")
    if real is None:
        pytest.skip("the requests table migration has not landed yet")
    wanted = {c.name for c in requests_table().columns}
    assert wanted <= {c.name for c in real.columns}
