"""The failure strategies of test_failures.py, with Bedrock deployments: retries with backoff
on throttling and 5xx, hung upstream -> fallback, guardrail -> policy event, the breaker,
mid-stream exception frames and corrupt frames, a context error -> the context policy.

The simulator verifies every request's SigV4 signature. Fault rules select deployments by
upstream model name (`a-*` fails, `b-*` is healthy), as in test_failures.py, whose helpers and
`sim` fixture (schedule and counters reset per test) are imported; `sim` runs on this module's
`simulator`, which overrides test_failures' own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.test_bedrock_sdk import aws_test_env
from tests.integration.test_failures import _deployment, _long_conversation, chat, models_stats
from tests.integration.test_failures import sim as sim

SECRET = "bedrock-failures-secret-0123456789"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    """Overrides test_failures' simulator for the imported `sim` fixture: signatures checked."""
    mp = pytest.MonkeyPatch()
    aws_test_env(mp, tmp_path_factory.mktemp("aws"), SECRET)
    try:
        with SimulatorThread(SimSettings(output_tokens=6, hang_s=3, context_window=100_000,
                                         require_key=SECRET)) as simulator:
            yield simulator
    finally:
        mp.undo()


def start(tmp_path: Path, sim: SimulatorThread, models: dict[str, Any]) -> Iterator[RunningServer]:
    """test_failures.start with a Bedrock provider named `sim` (what `_deployment` names)."""
    provider = {"type": "bedrock", "base_url": sim.url, "options": {"region": "us-east-1"}}
    return serve_in_thread(create_app(settings_for(tmp_path, {"sim": provider}, models), warmup=False))


async def policy_events(server: RunningServer, want: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5  # events are written behind the request, in batches
    while len(events) < want and time.monotonic() < deadline:
        async with aiohttp.ClientSession() as s, s.get(
            server.url + "/admin/policy-events", headers={"authorization": f"Bearer {server.admin_key}"}
        ) as r:
            events = (await r.json())["data"]
        await asyncio.sleep(0.05)
    return events


def last_event(body: bytes) -> dict[str, Any]:
    last = body.decode().strip().split("\n\n")[-1]
    return dict(orjson.loads(last.removeprefix("data: ")))


@pytest.mark.asyncio
async def test_throttling_storm_on_one_deployment_gives_zero_client_errors(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "rate_limit", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1"), _deployment("b-1")],
                    "breaker": {"min_requests": 5, "open_s": 60}}}
    for server in start(tmp_path, sim, models):
        results = [await chat(server, "m") for _ in range(20)]
    assert [status for status, _, _ in results] == [200] * 20
    assert models_stats(sim)["b-1"] == 20
    assert models_stats(sim).get("a-1", 0) <= 6, "the breaker stops sending traffic into the storm"
    assert sim.state.settings.require_key == SECRET and sim.state.stats.rejected == 0, (
        "every retry was signed afresh and its signature verified")


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["rate_limit", "overloaded", "server_error", "unavailable"])
async def test_throttling_and_5xx_are_retried_with_backoff(
    tmp_path: Path, sim: SimulatorThread, fault: str
) -> None:
    """ThrottlingException, ModelNotReadyException (429), InternalServerException,
    ServiceUnavailableException: retried on the same deployment until it answers."""
    sim.state.schedule.replace([{"fault": fault, "model": "a-*", "first": 2}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "retry": {"max_attempts": 3, "base_delay_s": 0.05, "max_delay_s": 0.2}}}
    for server in start(tmp_path, sim, models):
        status, headers, body = await chat(server, "m")
    assert status == 200 and headers["x-corral-attempts"] == "3", body
    assert models_stats(sim) == {"a-1": 3} and sim.state.stats.faults[fault] == 2


@pytest.mark.asyncio
async def test_retry_budget_caps_attempts_during_an_outage(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "unavailable", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "breaker": {"min_requests": 1000},
                    "retry": {"max_attempts": 5, "base_delay_s": 0.001, "max_delay_s": 0.002,
                              "budget_ratio": 0.1, "budget_min_per_s": 0.2, "budget_window_s": 10}}}
    for server in start(tmp_path, sim, models):
        statuses = [(await chat(server, "m"))[0] for _ in range(20)]
    assert set(statuses) == {503}
    assert 20 <= models_stats(sim)["a-1"] <= 26  # 20 first attempts, at most 0.1 x 20 + 0.2 x 10 retries


@pytest.mark.asyncio
async def test_hung_upstream_times_out_and_falls_back(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "hang", "model": "a-*"}])
    models = {
        "m": {"deployments": [_deployment("a-1")], "fallbacks": ["cheap"],
              "timeouts": {"first_token_s": 0.4}, "cache_fallback": False},
        "cheap": {"deployments": [_deployment("b-cheap")]},
    }
    for server in start(tmp_path, sim, models):
        for stream in (False, True):
            began = time.monotonic()
            status, headers, _ = await chat(server, "m", stream=stream)
            elapsed = time.monotonic() - began
            assert status == 200 and headers["x-corral-fallback"] == "model"
            assert headers["x-corral-model"] == "b-cheap"
            assert 0.4 <= elapsed < 1.5, elapsed


@pytest.mark.asyncio
async def test_guardrail_is_a_content_filter_policy_event_not_retried(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "content_policy", "model": "a-*"}])
    models = {"guarded": {"deployments": [_deployment("a-1"), _deployment("a-2")]}}
    for server in start(tmp_path, sim, models):
        status, headers, body = await chat(server, "guarded", content="something edgy")
        assert status == 200 and body["choices"][0]["finish_reason"] == "content_filter"
        assert "guardrail" in body["choices"][0]["message"]["content"]
        assert headers["x-corral-attempts"] == "1", "a guardrail's answer is an answer"
        status, _, stream = await chat(server, "guarded", content="something edgy", stream=True)
        assert status == 200 and b'"finish_reason":"content_filter"' in stream
        events = await policy_events(server, 2)
    assert len(events) == 2 and {e["category"] for e in events} == {"content_filter"}
    assert {e["stream"] for e in events} == {False, True}


@pytest.mark.asyncio
async def test_breaker_opens_then_recovers(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "server_error", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1", priority=0), _deployment("b-1", priority=1)],
                    "breaker": {"min_requests": 4, "failure_rate": 0.5, "open_s": 0.5, "window_s": 10}}}
    for server in start(tmp_path, sim, models):
        for _ in range(10):
            assert (await chat(server, "m"))[0] == 200
        assert models_stats(sim).get("a-1", 0) == 4, "open after min_requests failures, then skipped"
        breaker = server.gateway.router.breaker(server.gateway.routes.lookup("m"))
        assert await breaker.state("sim/a-1") == "open"
        sim.state.schedule.replace([])  # the deployment heals
        await asyncio.sleep(0.6)
        status, headers, _ = await chat(server, "m")
        assert status == 200 and headers["x-corral-model"] == "a-1", "half-open probe goes through"
        assert await breaker.state("sim/a-1") == "closed"


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "code"), [("stream_error", "upstream_unavailable"),
                                             ("malformed_sse", "upstream_bad_response")])
async def test_mid_stream_exception_and_corrupt_frame_end_the_stream_with_an_error(
    tmp_path: Path, sim: SimulatorThread, fault: str, code: str
) -> None:
    """An exception frame (serviceUnavailableException) or a frame with a bad CRC after two
    chunks: too late to retry, so the client's stream ends with an error event."""
    sim.state.schedule.replace([{"fault": fault, "model": "b-*"}])
    models = {"m": {"deployments": [_deployment("b-1")]}}
    for server in start(tmp_path, sim, models):
        status, _, body = await chat(server, "m", stream=True)
    assert status == 200
    assert body.count(b'"content":') >= 2, "the two chunks before the failure reached the client"
    assert last_event(body)["error"]["code"] == code


@pytest.mark.asyncio
async def test_context_length_error_triggers_the_policy(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "context_length", "model": "b-*", "first": 1}])
    models = {"m": {"deployments": [_deployment("b-1")], "context": {"policy": "truncate"}}}
    for server in start(tmp_path, sim, models):
        headers = {"authorization": f"Bearer {server.app_key}"}
        body = {"model": "m", "messages": _long_conversation(turns=4, words=20)}
        async with aiohttp.ClientSession() as s, s.post(
            server.url + "/v1/chat/completions", json=body, headers=headers
        ) as r:
            status, context = r.status, r.headers.get("x-corral-context")
    assert status == 200 and context == "truncated"
    assert models_stats(sim) == {"b-1": 2}


@pytest.mark.asyncio
async def test_all_failed_reports_each_deployment(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "overloaded"}])
    models = {"m": {"deployments": [_deployment("a-1"), _deployment("a-2")], "cache_fallback": False,
                    "retry": {"max_attempts": 2}}}
    for server in start(tmp_path, sim, models):
        status, headers, body = await chat(server, "m")
    assert status == 503 and headers["x-corral-attempts"] == "2"
    assert "sim/a-1" in body["error"]["message"] and "ModelNotReadyException" in body["error"]["message"]
