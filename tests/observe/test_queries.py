"""recent / get / summary on both backends, with records stored through the sink."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from corral.observe import queries
from corral.observe.sink import RecordSink
from corral.store.db import Database
from tests.observe.test_sink_support import make_record

NOW = time.time()


async def store(database: Database, tmp_path: Path) -> None:
    """100 requests over the last 100 minutes: every 10th an error, every 25th degraded/unpriced."""
    sink = RecordSink(database, tmp_path / "spool")
    for i in range(1, 101):
        sink.submit(make_record(
            i,
            created_at=NOW - (100 - i) * 60,
            latency_ms=float(i),
            ttft_upstream_ms=None if i % 2 else i / 2,
            route="gpt-main" if i % 4 else "claude",
            key_id="key_a" if i <= 50 else "key_b",
            status="error" if i % 10 == 0 else "degraded" if i % 25 == 0 else "ok",
            cost_usd=None if i % 25 == 0 else 0.01,
            priced=i % 25 != 0,
            input_tokens=i,
            output_tokens=2,
        ))
    await sink.aclose()
    assert sink.stats()["written"] == 100


async def test_recent_is_newest_first_and_filters(migrated_db: Database, tmp_path: Path) -> None:
    await store(migrated_db, tmp_path)
    rows = await queries.recent(migrated_db, 5)
    assert [r["request_id"] for r in rows] == [f"req_{i:06d}" for i in (100, 99, 98, 97, 96)]
    assert "prompt" not in rows[0] and "response" not in rows[0]  # content only when asked for
    first = rows[0]
    assert first["created_at"].startswith(datetime.fromtimestamp(NOW, UTC).isoformat()[:16])
    assert first["attempts"][1] == {"deployment": "azure/gpt-4o", "provider": "azure", "model": "gpt-4o-2024",
                                    "status": "ok", "error_type": None, "duration_ms": 80.0}
    assert first["stream"] is False and first["extras"] == {"retry_stopped": "deadline"}
    assert (first["priced"], first["cost_usd"]) == (False, None)
    assert (rows[1]["priced"], rows[1]["cost_usd"]) == (True, 0.01)
    errors = await queries.recent(migrated_db, 100, status="error", key_id="key_b")
    assert [r["request_id"] for r in errors] == [f"req_{i:06d}" for i in (100, 90, 80, 70, 60)]
    claude = await queries.recent(migrated_db, 100, route="claude",
                                  since=datetime.fromtimestamp(NOW - 30.5 * 60, UTC))
    assert [int(r["request_id"][4:]) for r in claude] == [100, 96, 92, 88, 84, 80, 76, 72]
    assert await queries.recent(migrated_db, 10, team="nobody") == []
    after = await queries.recent(migrated_db, 1000, after_id=rows[1]["id"])
    assert [r["request_id"] for r in after] == ["req_000100"]  # insertion order after an id
    assert await queries.last_id(migrated_db) == rows[0]["id"]


async def test_get_returns_the_full_record(migrated_db: Database, tmp_path: Path) -> None:
    await store(migrated_db, tmp_path)
    row = await queries.get(migrated_db, "req_000042")
    assert row is not None
    assert row["prompt"] == [
        {"role": "system", "content": "Be brief.", "name": None, "tool_calls": None, "tool_call_id": None,
         "reasoning": None, "cache": None},
        {"role": "user", "content": "Hello 42, I am alice@example.com", "name": None, "tool_calls": None,
         "tool_call_id": None, "reasoning": None, "cache": None},
    ]
    assert row["response"] == "Hi 42"
    assert (row["latency_ms"], row["ttft_upstream_ms"], row["input_tokens"]) == (42.0, 21.0, 42)
    assert await queries.get(migrated_db, "req_missing") is None


async def test_summary_numbers(migrated_db: Database, tmp_path: Path) -> None:
    await store(migrated_db, tmp_path)
    s = await queries.summary(migrated_db)
    assert (s["count"], s["errors"], s["degraded"], s["unpriced"]) == (100, 10, 2, 4)
    assert s["error_rate"] == pytest.approx(0.1)
    assert s["latency_ms"] == {"p50": 50.0, "p95": 95.0, "p99": 99.0}  # nearest rank over 1..100
    assert s["ttft_upstream_ms"] == {"p50": 25.0, "p95": 48.0, "p99": 50.0}  # 1..50 (even requests)
    assert s["ttft_client_ms"]["p50"] == pytest.approx(110, abs=0.01)
    assert s["tokens"] == {"input": 5050, "output": 200, "cached": 6400, "reasoning": 800}
    assert s["cost_usd"] == pytest.approx(0.96) and s["cache_hits"] == 0
    assert s["by_route"][0]["route"] == "gpt-main" and s["by_route"][0]["count"] == 75
    assert s["by_route"][1] == {"route": "claude", "count": 25, "errors": 5, "degraded": 0, "unpriced": 1,
                                "cost_usd": pytest.approx(0.24)}
    recent = await queries.summary(migrated_db, datetime.fromtimestamp(NOW - 9.5 * 60, UTC), key_id="key_b")
    assert recent["count"] == 10 and recent["latency_ms"]["p50"] == 95.0
    assert recent["since"] is not None


async def test_summary_of_nothing(migrated_db: Database) -> None:
    s = await queries.summary(migrated_db, datetime.now(UTC) - timedelta(hours=1))
    assert (s["count"], s["error_rate"], s["cost_usd"], s["by_route"]) == (0, 0.0, None, [])
    assert s["latency_ms"] == {"p50": None, "p95": None, "p99": None}
