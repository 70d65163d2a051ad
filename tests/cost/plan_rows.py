"""Request records with known traffic, shared by the planner's records, replay and CLI tests.

Five UTC days of chat requests (4, 6, 6, 8 and 12 a day, busiest hours 3, 4, 6, 4 and 9),
each with 1,000 prompt tokens (250 cached) and 200 response tokens; 34 served by
gpt-4o-mini, the last 2 by a fine-tune the catalog does not price. Plus rows the planner
must leave out: an embeddings request and a request 40 days old.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from corral.store import Database, migrate, schema

HOURS_PER_DAY: list[dict[int, int]] = [  # hour of day -> requests
    {9: 3, 14: 1}, {9: 2, 10: 4}, {11: 6}, {8: 2, 9: 2, 10: 4}, {12: 9, 13: 3}]
RECORDED_COST = 0.0002  # per gpt-4o-mini request, as the records say


def first_day(now: datetime | None = None) -> datetime:
    """Midnight UTC six days ago: the five days all end before today."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=6)


def row(i: int, created: datetime, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "request_id": f"r{i}", "created_at": created, "route": "support", "requested_model": "support",
        "served_model": "gpt-4o-mini", "provider_type": "openai", "status": "ok", "http_status": 200,
        "stream": False, "input_tokens": 1000, "output_tokens": 200, "cached_tokens": 250,
        "reasoning_tokens": 0, "usage_estimated": False, "latency_ms": 1.0, "cost_usd": RECORDED_COST,
        "priced": True, "cache_hit": False, "attempts": "[]", "extras": orjson.dumps({}).decode(),
        "operation": "chat",
    }
    values.update(overrides)
    return values


def traffic_rows(start: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day, hours in enumerate(HOURS_PER_DAY):
        for hour, n in hours.items():
            for k in range(n):
                rows.append(row(len(rows), start + timedelta(days=day, hours=hour, seconds=k)))
    for late in rows[-2:]:
        late.update(served_model="my-finetune", cost_usd=None, priced=False)
    embedding = {"operation": "embeddings", "served_model": "text-embedding-3-small", "input_tokens": 5000,
                 "output_tokens": 0, "cached_tokens": 0}
    rows.append(row(len(rows), start + timedelta(hours=9), **embedding))
    rows.append(row(len(rows), start - timedelta(days=34)))
    return rows


async def insert(db: Database, rows: list[dict[str, Any]]) -> None:
    await migrate(db)
    if rows:
        await db.execute(schema.requests.insert(), rows)
