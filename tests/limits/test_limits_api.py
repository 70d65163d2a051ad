"""Rate limits and budgets through a real server and the official openai SDK (issue 12, item 2):
OpenAI-shaped 429s with x-ratelimit-* and Retry-After, limits per key name, team and route,
reservations that keep concurrent requests inside a dollar budget, tokens settled to what
was used, and teams that never draw on each other's limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.records import stored_records

PRICE = {"input_per_mtok": 1000, "output_per_mtok": 2000}  # the fake's 7 + 3 tokens: $0.013 a request


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {"echo": {"deployments": [{**fake, "model": "echo"}]},
         "narrow": {"deployments": [{**fake, "model": "echo"}]},
         "slow": {"deployments": [{**fake, "model": "slow"}]},
         "embed": {"deployments": [{**fake, "model": "embed"}]}},
        pricing={"deployments": {"fake": PRICE}},
        limits={
            "keys": {"k-rpm": {"rpm": 3}, "k-tpm": {"tpm": 100}, "k-soft": {"usd_per_day": {"soft": 0.04}},
                     "k-counted": {"rpm": 3}, "k-shared": {"rpm": 2}},
            "teams": {"t-budget": {"usd_per_day": 0.05}, "t-many": {"usd_per_day": 0.05}},
            "routes": {"narrow": {"rpm": 2}},
        },
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_in_thread(create_app(_settings(tmp_path_factory.mktemp("limits")), warmup=False))


def _key(server: RunningServer, name: str, team: str = "default") -> str:
    made = httpx.post(server.url + "/admin/keys", json={"name": name, "team": team},
                      headers={"Authorization": f"Bearer {server.admin_key}"})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def _client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def _ask(client: openai.OpenAI, model: str = "echo", text: str = "hello", **extra: Any) -> httpx.Headers:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=5, **extra)
    return raw.headers


def test_requests_per_minute_refused_with_openai_headers(server: RunningServer) -> None:
    client = _client(server, _key(server, "k-rpm"))
    first = _ask(client)
    assert first["x-ratelimit-limit-requests"] == "3"
    assert first["x-ratelimit-remaining-requests"] == "2"
    assert first["x-ratelimit-reset-requests"].endswith("s")
    _ask(client)
    assert _ask(client)["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as refused:
        _ask(client)
    error = refused.value
    assert error.code == "rate_limit_exceeded" and error.type == "rate_limit_error"
    assert "key" in error.message and "k-rpm" in error.message and "3 requests per minute" in error.message
    headers = error.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in headers  # worth retrying after Retry-After


def test_a_key_name_rule_is_shared_by_every_key_of_that_name(server: RunningServer) -> None:
    old, new = _client(server, _key(server, "k-shared")), _client(server, _key(server, "k-shared"))
    _ask(old)
    assert _ask(new)["x-ratelimit-remaining-requests"] == "0"  # one budget across a key rotation
    with pytest.raises(openai.RateLimitError):
        _ask(old)
    unruled = _client(server, _key(server, "k-unruled"))
    assert "x-ratelimit-limit-requests" not in _ask(unruled)  # no rule for this name: no headers


def test_route_limit_counts_every_caller(server: RunningServer) -> None:
    a, b = _client(server, _key(server, "route-a", "ra")), _client(server, _key(server, "route-b", "rb"))
    _ask(a, "narrow")
    _ask(b, "narrow")
    with pytest.raises(openai.RateLimitError) as refused:
        _ask(a, "narrow")
    assert "route 'narrow'" in refused.value.message
    _ask(a, "echo")  # another route is not held by it


def test_concurrent_requests_stay_inside_the_team_budget(server: RunningServer) -> None:
    key = _key(server, "budgeted", "t-many")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            body = {"model": "slow", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}
            return await asyncio.gather(*(http.post("/v1/chat/completions", json=body,
                                                    headers={"Authorization": f"Bearer {key}"})
                                          for _ in range(40)))

    answers = asyncio.run(burst())
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(ok) + len(refused) == 40 and ok and refused
    for r in refused:
        assert r.json()["error"]["code"] == "insufficient_quota"
        assert r.headers["x-should-retry"] == "false" and int(r.headers["retry-after"]) > 0
        assert r.headers["x-ratelimit-limit-usd"] == "0.05"
    records = _records(server, "t-many", len(answers))
    spent = sum(r["cost_usd"] or 0 for r in records)
    assert spent <= 0.05 + 1e-9, f"spent {spent} of 0.05 with {len(ok)} answers"
    assert spent == pytest.approx(0.013 * len(ok))


def test_an_exhausted_budget_says_when_it_resets(server: RunningServer) -> None:
    client = _client(server, _key(server, "seq", "t-budget"))
    answered = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(10):
            _ask(client)
            answered += 1
    # "hello" reserves 9 prompt tokens (4 characters a token + the message's overhead) + 5: $0.019;
    # each answer costs $0.013 (the fake's 7 + 3 tokens)
    assert answered == 3  # then $0.039 spent, and a 4th may cost up to $0.019 > $0.011 left
    error = refused.value
    assert error.code == "insufficient_quota" and "daily budget of team 't-budget' is spent" in error.message
    assert "limits.teams.t-budget.usd_per_day" in error.message
    assert float(error.response.headers["x-ratelimit-remaining-usd"]) == pytest.approx(0.011)
    other = _client(server, _key(server, "other", "t-other"))
    _ask(other)  # another team's traffic is not held by it


def test_tokens_per_minute_settle_to_what_was_used(server: RunningServer) -> None:
    client = _client(server, _key(server, "k-tpm"))
    first = _ask(client)  # reserves the prompt's estimate + 5, settles to the fake's 7 + 3
    assert first["x-ratelimit-limit-tokens"] == "100"
    reserved = 100 - int(first["x-ratelimit-remaining-tokens"])
    assert reserved > 10
    for _ in range(6):
        _ask(client)
    # 7 answers used 70 tokens; reservations alone (more than 10 each) leave less room
    assert _ask(client)["x-ratelimit-remaining-tokens"] == str(100 - 70 - reserved)
    with pytest.raises(openai.RateLimitError) as too_big:
        _ask(client, text="word " * 200)
    assert "alone needs" in too_big.value.message
    assert too_big.value.response.headers["x-should-retry"] == "false"


def test_a_soft_limit_warns_and_never_refuses(server: RunningServer) -> None:
    client = _client(server, _key(server, "k-soft"))
    assert "x-corral-limit-warning" not in _ask(client)
    _ask(client)
    warned = _ask(client)  # $0.026 spent + up to $0.019 reserved: over the $0.04 soft level
    assert "k-soft" in warned["x-corral-limit-warning"] and "usd_per_day" in warned["x-corral-limit-warning"]
    for _ in range(5):
        _ask(client)


def test_refusals_are_recorded_and_counted(server: RunningServer) -> None:
    client = _client(server, _key(server, "k-counted", "t-counted"))
    for _ in range(3):
        _ask(client)
    with pytest.raises(openai.RateLimitError):
        _ask(client)
    records = _records(server, "t-counted", 4)
    assert sorted(r["http_status"] for r in records) == [200, 200, 200, 429]
    metrics = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {server.admin_key}"}).text
    assert "corral_limits_refused_requests_total" in metrics


def _records(server: RunningServer, team: str, expected: int) -> list[Any]:
    return asyncio.run(stored_records(server, lambda r: r["team"] == team, expected))
