"""`spent()` per scope and period, on SQLite and PostgreSQL, and the index its query uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from corral.limits.spend import period_bounds, spent, spent_query
from corral.store import Database
from tests.limits.records import at, insert, record

NOW = at("2026-05-10 12:00")


def test_period_bounds_are_utc_days_and_months() -> None:
    assert period_bounds("day", at("2026-05-10 12:34")) == (at("2026-05-10 00:00"), at("2026-05-11 00:00"))
    month = (at("2026-05-01 00:00"), at("2026-06-01 00:00"))
    assert period_bounds("month", at("2026-05-10 12:34")) == month
    assert period_bounds("month", at("2026-05-31 23:59:59")) == month
    assert period_bounds("month", at("2026-12-31 23:59")) == (at("2026-12-01 00:00"), at("2027-01-01 00:00"))
    assert period_bounds("day", at("2026-05-11 00:00")) == (at("2026-05-11 00:00"), at("2026-05-12 00:00"))
    paris = datetime(2026, 6, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # 23:30 UTC on 31 May
    assert period_bounds("day", paris) == (at("2026-05-31 00:00"), at("2026-06-01 00:00"))
    assert period_bounds("month", paris)[0] == at("2026-05-01 00:00")
    assert period_bounds("minute", NOW) == (NOW - timedelta(seconds=60), NOW)


async def test_spent_per_scope_and_period_boundaries(migrated_db: Database) -> None:
    await insert(
        migrated_db,
        record("2026-04-30 23:59:59", 4.0),  # last month
        record("2026-05-09 23:59:59", 1.0),  # yesterday, one second before today
        record("2026-05-10 00:00:00", 2.0),  # the first instant of today
        record("2026-05-10 08:00", None, key="key_b"),  # unpriced: $0, never an error
        record("2026-05-10 09:00", 0.5, key="key_b", team="research", route="mini"),
        record("2026-05-10 12:00", 8.0),  # at "now": after the reviewed moment
    )
    day, _ = period_bounds("day", NOW)
    month, _ = period_bounds("month", NOW)

    async def usd(**kw: Any) -> float:
        return await spent(migrated_db, until=NOW, **kw)

    assert await usd(since=day) == pytest.approx(2.5)
    assert await spent(migrated_db, since=day) == pytest.approx(10.5)  # no end: everything since
    assert await usd(since=month) == pytest.approx(3.5)
    assert await usd(since=at("2026-04-01 00:00")) == pytest.approx(7.5)
    assert await usd(since=day, key_ids=["key_a"]) == pytest.approx(2.0)
    assert await usd(since=day, key_ids=["key_a", "key_b"]) == pytest.approx(2.5)
    assert await usd(since=day, key_ids=["key_b"], route="gpt-4o") == 0.0  # only the unpriced one
    assert await usd(since=day, key_ids=[]) == 0.0  # a key name no key has
    assert await usd(since=day, team="growth") == pytest.approx(2.0)
    assert await usd(since=day, team="research") == pytest.approx(0.5)
    assert await usd(since=day, route="mini") == pytest.approx(0.5)
    assert await usd(since=day, team="nobody") == 0.0


async def _plan(db: Database, **kw: Any) -> str:
    compiled = spent_query(at("2026-05-10 00:00"), NOW, **kw).compile(
        dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    values = [compiled.params[name] for name in compiled.positiontup or ()]
    params = tuple(f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else v for v in values)
    async with db.transaction() as tx:
        plan = await tx.connection.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, params)
        rows = plan.fetchall()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(("scope", "index"), [
    ({}, "ix_requests_created_at"),
    ({"key_ids": ["key_a"]}, "ix_requests_key_id"),
    ({"key_ids": ["key_a", "key_b"]}, "ix_requests_key_id"),
    ({"team": "growth"}, "ix_requests_team"),
    ({"route": "gpt-4o"}, "ix_requests_route"),
])
async def test_spent_query_searches_an_index_on_sqlite(migrated_db: Database, backend: str,
                                                       scope: dict[str, Any], index: str) -> None:
    if backend != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    plan = await _plan(migrated_db, **scope)
    assert f"SEARCH requests USING INDEX {index}" in plan and "SCAN" not in plan, plan

