"""Alert rules over stored requests: firing/resolved transitions, webhook delivery, the task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from corral.observe.alerts import AlertEngine, AlertRule, AlertSettings
from corral.observe.sink import RecordSink
from corral.store.db import Database
from tests.observe.test_sink_support import make_record

T0 = time.time()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def store(db: Database, tmp_path: Path, start: int, n: int, at: float, **kw: Any) -> None:
    sink = RecordSink(db, tmp_path / f"spool{start}")
    for i in range(start, start + n):
        sink.submit(make_record(i, created_at=at, **kw))
    await sink.aclose()


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 that records what it is sent."""
    got: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", got
    finally:
        await runner.cleanup()


async def test_latency_rule_fires_once_then_resolves_with_webhook(
        migrated_db: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, got = hook
    clock = Clock()
    rules = [AlertRule(name="p99", kind="latency_p99", threshold=500, window_s=60)]
    engine = AlertEngine(migrated_db, AlertSettings(rules=rules, webhook_url=url), clock=clock)
    assert await engine.evaluate() == [] and engine.states["p99"].state == "unknown"  # no data yet
    await store(migrated_db, tmp_path, 1, 5, T0 - 5, latency_ms=900.0)
    events = await engine.evaluate()
    assert [(e["alert"], e["status"], e["value"]) for e in events] == [("p99", "firing", 900.0)]
    assert await engine.evaluate() == []  # still firing: no repeat
    clock.now = T0 + 120  # the slow requests leave the window; fast ones arrive
    await store(migrated_db, tmp_path, 10, 5, T0 + 110, latency_ms=20.0)
    assert [e["status"] for e in await engine.evaluate()] == ["resolved"]
    await engine.aclose()
    assert [(g["alert"], g["status"], g["threshold"]) for g in got] == [("p99", "firing", 500),
                                                                        ("p99", "resolved", 500)]
    assert engine.snapshot()["rules"][0]["state"] == "ok"


async def test_error_rate_ttft_and_cost_burn(migrated_db: Database, tmp_path: Path) -> None:
    await store(migrated_db, tmp_path, 1, 8, T0 - 5, cost_usd=0.01, ttft_client_ms=50.0)
    await store(migrated_db, tmp_path, 20, 2, T0 - 5, status="error", cost_usd=None, ttft_client_ms=None)
    rules = [
        AlertRule(name="errors", kind="error_rate", threshold=0.1, window_s=60),  # 20% > 10%
        AlertRule(name="ttft", kind="ttft_p99", threshold=100, window_s=60),  # 50 ms: fine
        # $0.08 in 60 s burns $115/day: over a $100 budget, under a $200 one.
        AlertRule(name="burn", kind="cost_burn", threshold=100, window_s=60),
        AlertRule(name="burn-ok", kind="cost_burn", threshold=200, window_s=60),
        AlertRule(name="busy-only", kind="error_rate", threshold=0.01, window_s=60, min_requests=50),
    ]
    engine = AlertEngine(migrated_db, AlertSettings(rules=rules), clock=Clock())
    events = {e["alert"]: e for e in await engine.evaluate()}
    assert set(events) == {"errors", "burn"}
    assert events["errors"]["value"] == pytest.approx(0.2)
    assert events["burn"]["value"] == pytest.approx(0.08 * 1440)
    states = {r["name"]: (r["state"], r["value"]) for r in engine.snapshot()["rules"]}
    assert states["ttft"] == ("ok", 50.0) and states["burn-ok"][0] == "ok"
    assert states["busy-only"] == ("unknown", None)  # 10 requests: below min_requests


async def test_quality_callback_fires_below_threshold(migrated_db: Database) -> None:
    scores = [0.9, 0.5, None, 0.95]
    windows: list[int] = []

    async def quality(window_s: int) -> float | None:
        windows.append(window_s)
        return scores.pop(0)

    rules = [AlertRule(name="quality", kind="quality", threshold=0.8, window_s=600)]
    engine = AlertEngine(migrated_db, AlertSettings(rules=rules), quality=quality, clock=Clock())
    statuses = [[e["status"] for e in await engine.evaluate()] for _ in range(4)]
    assert statuses == [[], ["firing"], [], ["resolved"]]  # no score keeps the state
    assert windows == [600] * 4


async def test_webhook_failure_is_logged_not_raised(migrated_db: Database, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    await store(migrated_db, tmp_path, 1, 2, T0 - 5, status="error")
    rules = [AlertRule(name="errors", kind="error_rate", threshold=0.5, window_s=60)]
    settings = AlertSettings(rules=rules, webhook_url="http://127.0.0.1:9/nowhere", webhook_timeout_s=2)
    engine = AlertEngine(migrated_db, settings, clock=Clock())
    with caplog.at_level(logging.INFO, logger="corral.alerts"):
        assert [e["status"] for e in await engine.evaluate()] == ["firing"]
    await engine.aclose()
    assert "alert errors firing" in caplog.text and "alert webhook failed" in caplog.text


async def test_background_task_evaluates_until_closed(migrated_db: Database, tmp_path: Path,
                                                      hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, got = hook
    await store(migrated_db, tmp_path, 1, 3, time.time() - 1, status="error")
    rules = [AlertRule(name="errors", kind="error_rate", threshold=0.5, window_s=60)]
    engine = AlertEngine(migrated_db, AlertSettings(rules=rules, webhook_url=url, interval_s=0.05))
    engine.start()
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    await engine.aclose()
    assert [g["status"] for g in got] == ["firing"]
    assert engine._task is None
    AlertEngine(migrated_db, AlertSettings()).start()  # no rules: no task at all
