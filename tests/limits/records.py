"""Builders for the budget tests: request records and API keys written straight to the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from corral.store import Database, schema

_n = [0]


def at(text: str) -> datetime:
    """'2026-05-10 12:00' or '2026-05-10 12:00:00.5' in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def record(created: str | datetime, cost: float | None = 0.0, *, key: str | None = "key_a",
           team: str | None = "growth", route: str = "gpt-4o",
           tokens: tuple[int, int] = (100, 20)) -> dict[str, Any]:
    _n[0] += 1
    return {
        "request_id": f"req_{_n[0]}", "created_at": at(created) if isinstance(created, str) else created,
        "key_id": key, "team": team, "route": route, "requested_model": route, "served_model": route,
        "status": "ok", "http_status": 200, "stream": False, "input_tokens": tokens[0],
        "output_tokens": tokens[1], "cached_tokens": 0, "reasoning_tokens": 0, "usage_estimated": False,
        "latency_ms": 1.0, "cost_usd": cost, "priced": cost is not None, "cache_hit": False, "attempts": "[]",
        "extras": "{}", "operation": "chat",
    }


async def insert(db: Database, *rows: dict[str, Any]) -> None:
    await db.execute(schema.requests.insert(), list(rows))


async def add_key(db: Database, key_id: str, name: str, team: str = "growth") -> None:
    await db.execute(schema.api_keys.insert(), [{
        "id": key_id, "name": name, "team": team, "scopes": "inference", "prefix": key_id[:10],
        "hash": f"h-{key_id}", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
