"""Every failure strategy, provoked through the simulator (a real HTTP upstream).

One simulator serves all deployments; fault rules select deployments by upstream model
name (`a-*` fails, `b-*` is healthy), so each test shapes its own outage.
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


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimSettings(output_tokens=6, hang_s=3, context_window=100_000)) as sim:
        yield sim


@pytest.fixture
def sim(simulator: SimulatorThread) -> Iterator[SimulatorThread]:
    simulator.state.schedule.replace([])
    simulator.state.stats.reset()
    yield simulator
    simulator.state.schedule.replace([])


def _deployment(model: str, **kw: Any) -> dict[str, Any]:
    return {"provider": "sim", "model": model, **kw}


def start(tmp_path: Path, sim: SimulatorThread, models: dict[str, Any]) -> Iterator[RunningServer]:
    settings = settings_for(
        tmp_path, {"sim": {"type": "openai", "base_url": f"{sim.url}/v1"}}, models
    )
    return serve_in_thread(create_app(settings, warmup=False))


async def chat(server: RunningServer, model: str, content: str = "hello there", **kw: Any
               ) -> tuple[int, dict[str, str], Any]:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **kw}
    headers = {"authorization": f"Bearer {server.app_key}"}
    async with aiohttp.ClientSession() as s, s.post(
        server.url + "/v1/chat/completions", json=body, headers=headers
    ) as r:
        raw = await r.read()
        data = raw if kw.get("stream") else orjson.loads(raw)
        return r.status, {k.lower(): v for k, v in r.headers.items()}, data


def models_stats(sim: SimulatorThread) -> dict[str, int]:
    return dict(sim.state.stats.models)


@pytest.mark.asyncio
async def test_429_storm_on_one_deployment_gives_zero_client_errors(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "rate_limit", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1"), _deployment("b-1")],
                    "breaker": {"min_requests": 5, "open_s": 60}}}
    for server in start(tmp_path, sim, models):
        results = [await chat(server, "m") for _ in range(40)]
    assert [status for status, _, _ in results] == [200] * 40
    stats = models_stats(sim)
    assert stats["b-1"] == 40
    assert stats.get("a-1", 0) <= 6, "the breaker stops sending traffic into the storm"
    served_by_fallback = [h for _, h, _ in results if h.get("x-corral-fallback") == "deployment"]
    assert served_by_fallback and all(h["x-corral-attempts"] == "2" for h in served_by_fallback)


@pytest.mark.asyncio
async def test_retry_after_is_honoured(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.settings.retry_after_s = 1
    sim.state.schedule.replace([{"fault": "rate_limit", "model": "a-*", "first": 1}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "retry": {"max_attempts": 2, "base_delay_s": 0.01}}}
    for server in start(tmp_path, sim, models):
        began = time.monotonic()
        status, headers, _ = await chat(server, "m")
        elapsed = time.monotonic() - began
    assert status == 200 and headers["x-corral-attempts"] == "2"
    assert 1.0 <= elapsed < 2.5, f"waited {elapsed:.2f}s for a Retry-After of 1s"


@pytest.mark.asyncio
async def test_retry_budget_caps_attempts_during_an_outage(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.settings.retry_after_s = 0
    sim.state.schedule.replace([{"fault": "unavailable", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "breaker": {"min_requests": 1000},
                    "retry": {"max_attempts": 5, "base_delay_s": 0.001, "max_delay_s": 0.002,
                              "budget_ratio": 0.1, "budget_min_per_s": 0.2, "budget_window_s": 10}}}
    for server in start(tmp_path, sim, models):
        statuses = [(await chat(server, "m"))[0] for _ in range(30)]
    assert set(statuses) == {503}
    upstream_calls = models_stats(sim)["a-1"]
    # Without a budget: 30 x 5 = 150 calls. With it: 30 first attempts plus at most
    # 0.1 x 30 + 0.2 x 10 = 5 retries.
    assert 30 <= upstream_calls <= 36, upstream_calls


@pytest.mark.asyncio
async def test_hung_upstream_falls_back_within_time_to_first_token(
    tmp_path: Path, sim: SimulatorThread
) -> None:
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
async def test_breaker_opens_then_recovers(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "server_error", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1", priority=0), _deployment("b-1", priority=1)],
                    "breaker": {"min_requests": 4, "failure_rate": 0.5, "open_s": 0.5, "window_s": 10}}}
    for server in start(tmp_path, sim, models):
        for _ in range(10):
            assert (await chat(server, "m"))[0] == 200
        calls_while_failing = models_stats(sim).get("a-1", 0)
        assert calls_while_failing == 4, "open after min_requests failures, then skipped"
        breaker = server.gateway.router.breaker(server.gateway.routes.lookup("m"))
        assert await breaker.state("sim/a-1") == "open"
        sim.state.schedule.replace([])  # the deployment heals
        await asyncio.sleep(0.6)
        status, headers, _ = await chat(server, "m")
        assert status == 200 and headers["x-corral-model"] == "a-1", "half-open probe goes through"
        assert await breaker.state("sim/a-1") == "closed"


@pytest.mark.asyncio
async def test_mid_stream_idle_gap_ends_stream_with_error_event(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.settings.tokens_per_second = 2  # 0.5 s between chunks
    models = {"m": {"deployments": [_deployment("b-1")], "timeouts": {"idle_s": 0.2}}}
    try:
        for server in start(tmp_path, sim, models):
            began = time.monotonic()
            status, _, body = await chat(server, "m", stream=True)
    finally:
        sim.state.settings.tokens_per_second = 0
    assert status == 200 and time.monotonic() - began < 2
    last = body.decode().strip().split("\n\n")[-1]
    assert orjson.loads(last.removeprefix("data: "))["error"]["code"] == "upstream_timeout"


@pytest.mark.asyncio
async def test_degradation_to_cached_answer_then_message(tmp_path: Path, sim: SimulatorThread) -> None:
    models = {"m": {"deployments": [_deployment("a-1")], "retry": {"max_attempts": 1},
                    "degraded_message": "Busy, try again soon."}}
    for server in start(tmp_path, sim, models):
        status, headers, first = await chat(server, "m", content="what is a corral")
        assert status == 200 and "x-corral-degraded" not in headers
        deadline = time.monotonic() + 5  # the answer is stored behind the request
        cache = server.gateway.cache.cache
        while cache.counters["stores"] < 1 and time.monotonic() < deadline:  # noqa: ASYNC110 - other loop
            await asyncio.sleep(0.02)
        sim.state.schedule.replace([{"fault": "server_error", "model": "a-*"}])
        status, headers, cached = await chat(server, "m", content="what is a corral")
        assert status == 200 and headers["x-corral-degraded"] == "cache"
        assert cached["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
        status, headers, stream = await chat(server, "m", content="what is a corral", stream=True)
        assert status == 200 and headers["x-corral-degraded"] == "cache" and b"[DONE]" in stream
        status, headers, other = await chat(server, "m", content="never asked before")
        assert status == 200 and headers["x-corral-degraded"] == "message"
        assert other["choices"][0]["message"]["content"] == "Busy, try again soon."


@pytest.mark.asyncio
async def test_all_failed_reports_each_deployment(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "overloaded"}])
    models = {"m": {"deployments": [_deployment("a-1"), _deployment("a-2")], "cache_fallback": False,
                    "retry": {"max_attempts": 2}}}
    for server in start(tmp_path, sim, models):
        status, headers, body = await chat(server, "m")
    assert status == 503 and headers["x-corral-attempts"] == "2"
    assert "sim/a-1" in body["error"]["message"] and "sim/a-2" in body["error"]["message"]


@pytest.mark.asyncio
async def test_content_policy_refusal_is_recorded_not_retried_and_can_fall_back(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "content_policy", "model": "a-*"}])
    models = {
        "strict": {"deployments": [_deployment("a-1"), _deployment("a-2")]},
        "lenient": {"deployments": [_deployment("a-3")], "content_policy_fallback": "safe"},
        "safe": {"deployments": [_deployment("b-safe")]},
    }
    for server in start(tmp_path, sim, models):
        status, headers, body = await chat(server, "strict", content="something edgy")
        assert status == 400 and body["error"]["code"] == "content_policy_violation"
        assert headers["x-corral-attempts"] == "1", "a refusal is not retried elsewhere"
        status, headers, _ = await chat(server, "lenient", content="something edgy")
        assert status == 200 and headers["x-corral-fallback"] == "content_policy"
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5  # events are written behind the request, in batches
        while len(events) < 2 and time.monotonic() < deadline:
            async with aiohttp.ClientSession() as s, s.get(
                server.url + "/admin/policy-events", headers={"authorization": f"Bearer {server.admin_key}"}
            ) as r:
                events = (await r.json())["data"]
            await asyncio.sleep(0.05)
    assert {e["route"] for e in events} == {"strict", "lenient"}
    assert all(e["category"] == "content_policy_violation" for e in events)


def _long_conversation(turns: int, words: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i} " + "lorem ipsum " * words})
        messages.append({"role": "assistant", "content": f"answer {i} " + "dolor sit " * words})
    messages.append({"role": "user", "content": "And the final question?"})
    return messages


async def _chat_messages(server: RunningServer, model: str, messages: list[dict[str, str]]
                         ) -> tuple[int, dict[str, str], Any]:
    headers = {"authorization": f"Bearer {server.app_key}"}
    async with aiohttp.ClientSession() as s, s.post(
        server.url + "/v1/chat/completions", json={"model": model, "messages": messages}, headers=headers
    ) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.json()


@pytest.mark.asyncio
@pytest.mark.parametrize("policy", ["error", "truncate", "summarize", "fallback"])
async def test_oversize_prompt_under_each_context_policy(
    tmp_path: Path, sim: SimulatorThread, policy: str
) -> None:
    small = {"context_window": 1000}
    models = {
        "m": {"deployments": [_deployment("b-small", **small)], "fallbacks": ["big"],
              "context": {"policy": policy, "reserve_output_tokens": 100}},
        "big": {"deployments": [_deployment("b-big", context_window=200_000)]},
    }
    messages = _long_conversation(turns=12, words=60)  # about 3,000 tokens
    for server in start(tmp_path, sim, models):
        status, headers, body = await _chat_messages(server, "m", messages)
    stats = models_stats(sim)
    if policy == "error":
        assert status == 400 and body["error"]["code"] == "context_length_exceeded"
        assert "1000" in body["error"]["message"], "the message states the window"
        assert stats == {}
        return
    assert status == 200, body
    if policy == "truncate":
        assert headers["x-corral-context"] == "truncated" and stats == {"b-small": 1}
    elif policy == "summarize":
        assert headers["x-corral-context"] == "summarized"
        assert stats["b-small"] >= 2, "map calls, then the answer"
    else:
        assert headers["x-corral-model"] == "b-big" and stats == {"b-big": 1}


@pytest.mark.asyncio
async def test_provider_context_error_triggers_the_policy(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "context_length", "model": "b-*", "first": 1}])
    models = {"m": {"deployments": [_deployment("b-1")], "context": {"policy": "truncate"}}}
    for server in start(tmp_path, sim, models):
        status, headers, _ = await _chat_messages(server, "m", _long_conversation(turns=4, words=20))
    assert status == 200 and headers["x-corral-context"] == "truncated"
    assert models_stats(sim) == {"b-1": 2}


@pytest.mark.asyncio
async def test_when_every_breaker_is_open_the_best_deployment_is_still_probed(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "server_error", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "retry": {"max_attempts": 1},
                    "breaker": {"min_requests": 2, "failure_rate": 0.5, "open_s": 60}}}
    for server in start(tmp_path, sim, models):
        for _ in range(2):
            assert (await chat(server, "m"))[0] == 503
        breaker = server.gateway.router.breaker(server.gateway.routes.lookup("m"))
        assert await breaker.state("sim/a-1") == "open"
        sim.state.schedule.replace([])
        status, headers, _ = await chat(server, "m")
    assert status == 200 and headers["x-corral-attempts"] == "1", "tried rather than failed untried"
    assert models_stats(sim)["a-1"] == 3
