"""Request records, cost and metrics from real traffic through the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corral.api.app import create_app
from corral.observe.queries import recent
from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database, default_database_url
from tests.conftest import RunningServer, serve_in_thread, settings_for


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimSettings(output_tokens=8, ttft_ms=80, tokens_per_second=200)) as sim:
        yield sim


def _settings(tmp_path: Path, sim: SimulatorThread) -> Any:
    return settings_for(
        tmp_path,
        {"oa": {"type": "openai", "base_url": f"{sim.url}/v1"}},
        {"gpt-4o-mini": {"deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]},
         "mystery": {"deployments": [{"provider": "oa", "model": "mystery-model"}]}},
    )


async def _stream_ttft(s: aiohttp.ClientSession, server: RunningServer, model: str) -> float:
    """Client-measured time to first token, on a warm keep-alive connection."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
    began = time.perf_counter()
    async with s.post(server.url + "/v1/chat/completions", json=body,
                      headers={"authorization": f"Bearer {server.app_key}"}) as r:
        first = None
        async for line in r.content:
            if first is None and b'"content"' in line:
                first = time.perf_counter() - began
        assert r.status == 200
    assert first is not None
    return first * 1000


async def _records(db_url: str, expected: int) -> list[dict[str, Any]]:
    db = await Database.connect(db_url)
    try:
        deadline = time.monotonic() + 10  # records are written behind the requests, in batches
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = await recent(db, limit=100)
            if len(rows) >= expected:
                return rows
            await asyncio.sleep(0.1)
        return rows
    finally:
        await db.close()


@pytest.mark.asyncio
async def test_records_ttft_cost_and_metrics(tmp_path: Path, simulator: SimulatorThread) -> None:
    settings = _settings(tmp_path, simulator)
    for server in serve_in_thread(create_app(settings, warmup=False)):
        async with aiohttp.ClientSession() as s:
            async with s.get(server.url + "/healthz") as r:  # open the connection first
                await r.read()
            client_ttft = [await _stream_ttft(s, server, "gpt-4o-mini") for _ in range(5)]
            for model in ("gpt-4o-mini", "mystery", "no-such-model"):
                async with s.post(server.url + "/v1/chat/completions",
                                  json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                                  headers={"authorization": f"Bearer {server.app_key}"}) as r:
                    await r.read()
            async with s.get(server.url + "/metrics",
                             headers={"authorization": f"Bearer {server.admin_key}"}) as r:
                assert r.status == 200
                exposition = (await r.text())
        rows = await _records(default_database_url(settings.home), expected=8)
    assert len(rows) == 8, "5 streams and 3 plain requests, one record each"
    by_id = sorted(rows, key=lambda r: r["created_at"])
    streams = [r for r in by_id if r["stream"]]
    assert len(streams) == 5 and all(r["ttft_client_ms"] is not None for r in streams), "100% of streams"
    for record, measured in zip(streams, client_ttft, strict=True):
        # The record times the first byte written, the client its first content line: they may
        # differ by a chunk interval (5 ms at 200 tokens/s) plus scheduling on two shared cores.
        assert abs(record["ttft_client_ms"] - measured) < 12, (record["ttft_client_ms"], measured)
        assert record["ttft_upstream_ms"] <= record["ttft_client_ms"]
        assert record["output_tokens"] == 8 and record["served_model"] == "gpt-4o-mini"
    plain = {r["route"]: r for r in by_id if not r["stream"]}
    priced = plain["gpt-4o-mini"]
    expected = (priced["input_tokens"] * 0.15 + priced["output_tokens"] * 0.60) / 1_000_000
    assert priced["priced"] and priced["cost_usd"] == pytest.approx(expected, abs=1e-8)
    assert plain["mystery"]["cost_usd"] is None and not plain["mystery"]["priced"], "unpriced, never $0"
    failed = plain["no-such-model"]
    assert failed["status"] == "error" and failed["http_status"] == 404 and failed["cost_usd"] == 0
    assert [a["deployment"] for a in priced["attempts"]] == ["oa/gpt-4o-mini"]
    assert 'gen_ai_server_time_to_first_token_seconds_count{' in exposition
    assert 'gen_ai_request_model="gpt-4o-mini"' in exposition
    assert "corral_cost_usd_total" in exposition and "corral_record_sink_" in exposition


@pytest.mark.asyncio
async def test_feedback_and_golden_set_through_the_api(tmp_path: Path, simulator: SimulatorThread) -> None:
    for server in serve_in_thread(create_app(_settings(tmp_path, simulator), warmup=False)):
        app_auth = {"authorization": f"Bearer {server.app_key}"}
        admin_auth = {"authorization": f"Bearer {server.admin_key}"}
        async with aiohttp.ClientSession() as s:
            async with s.post(server.url + "/v1/chat/completions", headers=app_auth, json={
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}) as r:
                response_id = (await r.json())["id"]
            async with s.post(server.url + "/v1/feedback", headers=app_auth,
                              json={"response_id": response_id, "rating": "down", "comment": "wrong"}) as r:
                assert r.status == 201
                assert (await r.json())["rating"] == "down"
            async with s.post(server.url + "/v1/feedback", headers=app_auth,
                              json={"response_id": response_id, "score": 7}) as r:
                assert r.status == 400 and (await r.json())["error"]["param"] == "score"
            async with s.post(server.url + "/admin/golden", headers=admin_auth, json={
                "route": "gpt-4o-mini", "question": "What is a corral?", "answer": "A pen for livestock."
            }) as r:
                assert r.status == 201
            async with s.get(server.url + "/admin/golden", headers=admin_auth) as r:
                assert [g["question"] for g in (await r.json())["data"]] == ["What is a corral?"]
            async with s.get(server.url + "/admin/golden", headers=app_auth) as r:
                assert r.status == 403
