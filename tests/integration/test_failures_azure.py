"""The failure strategies of test_failures.py, with Azure OpenAI deployments as the upstream.

The provider-independent tests of test_failures.py run here again, unchanged, with their
`start` pointed at a Corral whose provider `sim` is `type: azure` against the simulator's Azure
dialect (`/openai/deployments/{deployment}/...`, Azure's 429 and error bodies): fault rules
select deployments by name as they select models there (`a-*` fails, `b-*` is healthy). Then
what only Azure has: its content-filter refusal, with the categories it names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corral.api.app import create_app
from corral.simulator import SimulatorThread
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration import test_failures as base
from tests.integration.test_failures import _deployment, chat, models_stats

simulator, sim = base.simulator, base.sim  # its fixtures: one keyless simulator for the module


def start_azure(tmp_path: Path, sim: SimulatorThread, models: dict[str, Any],
                **options: Any) -> Iterator[RunningServer]:
    provider = {"type": "azure", "base_url": sim.url, "options": {"api_version": "2024-10-21", **options}}
    settings = settings_for(tmp_path, {"sim": provider}, models)
    return serve_in_thread(create_app(settings, warmup=False))


@pytest.fixture(autouse=True)
def azure_upstream(monkeypatch: pytest.MonkeyPatch, sim: SimulatorThread) -> Iterator[None]:
    """The reused tests call `base.start`: here it starts Corral with an Azure provider."""
    monkeypatch.setattr(base, "start", start_azure)
    yield
    assert set(sim.state.stats.dialects) == {"azure"}, "every upstream call reached the Azure dialect"


# The same tests, against Azure deployments.
test_429_storm_on_one_deployment_gives_zero_client_errors = (
    base.test_429_storm_on_one_deployment_gives_zero_client_errors)
test_retry_after_is_honoured = base.test_retry_after_is_honoured
test_retry_budget_caps_attempts_during_an_outage = base.test_retry_budget_caps_attempts_during_an_outage
test_hung_upstream_falls_back_within_time_to_first_token = (
    base.test_hung_upstream_falls_back_within_time_to_first_token)
test_breaker_opens_then_recovers = base.test_breaker_opens_then_recovers
test_mid_stream_idle_gap_ends_stream_with_error_event = (
    base.test_mid_stream_idle_gap_ends_stream_with_error_event)
test_all_failed_reports_each_deployment = base.test_all_failed_reports_each_deployment
test_provider_context_error_triggers_the_policy = base.test_provider_context_error_triggers_the_policy
test_when_every_breaker_is_open_the_best_deployment_is_still_probed = (
    base.test_when_every_breaker_is_open_the_best_deployment_is_still_probed)


@pytest.mark.asyncio
async def test_5xx_is_retried_with_backoff_then_served(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "server_error", "model": "a-*", "first": 2}])
    models = {"m": {"deployments": [_deployment("a-1")], "cache_fallback": False,
                    "retry": {"max_attempts": 3, "base_delay_s": 0.05}}}
    for server in start_azure(tmp_path, sim, models):
        status, headers, _ = await chat(server, "m")
    assert status == 200 and headers["x-corral-attempts"] == "3"
    assert sim.state.stats.dialects == {"azure": 3} and sim.state.stats.faults == {"server_error": 2}


@pytest.mark.asyncio
async def test_v1_api_fails_over_like_the_deployments_api(tmp_path: Path, sim: SimulatorThread) -> None:
    sim.state.schedule.replace([{"fault": "rate_limit", "model": "a-*"}])
    models = {"m": {"deployments": [_deployment("a-1", priority=0), _deployment("b-1", priority=1)],
                    "retry": {"max_attempts": 2, "base_delay_s": 0.01}}}
    for server in start_azure(tmp_path, sim, models, api="v1"):
        status, headers, body = await chat(server, "m")
    assert status == 200 and headers["x-corral-model"] == "b-1" and headers["x-corral-attempts"] == "2"
    assert body["choices"][0]["message"]["content"]
    assert models_stats(sim) == {"a-1": 1, "b-1": 1}


async def _policy_events(server: RunningServer, expected: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5  # events are written behind the request, in batches
    while len(events) < expected and time.monotonic() < deadline:
        async with aiohttp.ClientSession() as s, s.get(
            server.url + "/admin/policy-events", headers={"authorization": f"Bearer {server.admin_key}"}
        ) as r:
            events = (await r.json())["data"]
        await asyncio.sleep(0.05)
    return events


@pytest.mark.asyncio
async def test_content_filter_is_a_policy_event_with_its_categories_not_retried_and_can_fall_back(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    sim.state.schedule.replace([{"fault": "content_policy", "model": "a-*"}])
    models = {
        "strict": {"deployments": [_deployment("a-1"), _deployment("a-2")]},
        "lenient": {"deployments": [_deployment("a-3")], "content_policy_fallback": "safe"},
        "safe": {"deployments": [_deployment("b-safe")]},
    }
    for server in start_azure(tmp_path, sim, models):
        status, headers, body = await chat(server, "strict", content="something edgy")
        assert status == 400 and body["error"]["code"] == "content_policy_violation"
        assert "content management policy" in body["error"]["message"]
        assert headers["x-corral-attempts"] == "1", "a refusal is not retried elsewhere"
        status, headers, _ = await chat(server, "lenient", content="something edgy")
        assert status == 200 and headers["x-corral-fallback"] == "content_policy"
        events = await _policy_events(server, 2)
    assert {e["route"] for e in events} == {"strict", "lenient"}
    assert all(e["category"] == "content_filter:violence" for e in events)
    stats = models_stats(sim)
    assert stats.get("a-1", 0) + stats.get("a-2", 0) == 1 and stats["a-3"] == stats["b-safe"] == 1
