"""Exact-cache hits on the normal path (issue 12, item 3) through a real server and the official
openai SDK: a route with `cache.exact` calls the provider once for identical requests, whole or
streamed, says so in `x-corral-cache`, honours the client's no-cache / no-store, never answers
another team, a privacy policy that keeps nothing, or a sampling request, and records the hit
(`cache_hit`, cost 0, what it saved) and counts it in the metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import corral.gateway
from corral.api.app import create_app
from corral.privacy.types import Span
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.fakes import FakeProvider
from tests.integration.records import stored_records

EMAIL = re.compile(r"[\w.]+@[\w.]+")


class EmailDetector:
    """Finds e-mail addresses by a pattern: the privacy routes run without loading models."""

    def detect(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    on = {"exact": True, "ttl_s": 60}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {
            "cached": {"deployments": [{**fake, "model": "echo"}], "cache": on},
            "tools": {"deployments": [{**fake, "model": "tool-call"}], "cache": on},
            "sampled": {"deployments": [{**fake, "model": "echo"}],
                        "cache": {**on, "exact_when_sampling": True}},
            "blocked": {"deployments": [{**fake, "model": "echo"}], "cache": on,
                        "privacy": {"policy": "block"}},
            "redacted": {"deployments": [{**fake, "model": "echo"}], "cache": on,
                         "privacy": {"policy": "redact"}},
            "plain": {"deployments": [{**fake, "model": "echo"}]},
        },
        pricing={"deployments": {"fake/echo": {"input_per_mtok": 1000, "output_per_mtok": 2000}}},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(corral.gateway, "load_default_detector", lambda **_: EmailDetector())
        yield from serve_in_thread(create_app(_settings(tmp_path_factory.mktemp("exact")), warmup=False))


def _client(server: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)


def _ask(client: openai.OpenAI, model: str, text: str, headers: dict[str, str] | None = None,
         **extra: Any) -> tuple[str | None, str | None]:
    """(x-corral-cache, answer text) of one non-streamed request."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], extra_headers=headers, **extra)
    return raw.headers.get("x-corral-cache"), raw.parse().choices[0].message.content


def _calls(text: str) -> int:
    return sum(1 for c in FakeProvider.calls if c.messages[-1].text().endswith(text))


def test_identical_requests_call_the_provider_once(server: RunningServer) -> None:
    client = _client(server)
    assert _ask(client, "cached", "once please") == ("miss", "echo: once please")
    assert _ask(client, "cached", "once please") == ("hit", "echo: once please")
    assert _calls("once please") == 1
    messages: Any = [{"role": "user", "content": "once please"}]
    hit = client.chat.completions.create(model="cached", messages=messages)
    assert hit.usage is not None and hit.usage.prompt_tokens == 7  # the answer's own usage, as stored
    assert _ask(client, "plain", "no option")[0] is None  # a route without the option says nothing


def test_a_stream_is_replayed_with_usage_when_asked(server: RunningServer) -> None:
    client = _client(server)
    messages: Any = [{"role": "user", "content": "stream me"}]
    for expected in ("miss", "hit"):
        raw = client.chat.completions.with_raw_response.create(
            model="cached", messages=messages, stream=True, stream_options={"include_usage": True})
        assert raw.headers["x-corral-cache"] == expected
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "echo: stream me"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert _ask(client, "cached", "stream me") == ("hit", "echo: stream me")  # streamed, then whole
    assert _calls("stream me") == 1


def test_tool_calls_are_replayed(server: RunningServer) -> None:
    client = _client(server)
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    messages: Any = [{"role": "user", "content": "weather?"}]
    for _ in range(2):
        answer = client.chat.completions.create(model="tools", messages=messages, tools=tools)
        calls = answer.choices[0].message.tool_calls
        assert calls is not None and calls[0].function.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]
    stream = client.chat.completions.create(model="tools", messages=messages, tools=tools, stream=True)
    deltas = [c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0][0].function.name == "weather"  # type: ignore[union-attr]
    assert _calls("weather?") == 1


def test_no_cache_skips_the_lookup_and_no_store_keeps_nothing(server: RunningServer) -> None:
    client = _client(server)
    _ask(client, "cached", "fresh")
    assert _ask(client, "cached", "fresh", {"Cache-Control": "no-cache"})[0] == "bypass"
    assert _ask(client, "cached", "fresh", {"x-corral-cache": "bypass"})[0] == "bypass"
    assert _calls("fresh") == 3
    assert _ask(client, "cached", "private", {"Cache-Control": "no-store"})[0] == "bypass"
    assert _ask(client, "cached", "private")[0] == "miss"  # nothing was kept


def test_another_team_never_hits(server: RunningServer) -> None:
    other = httpx.post(server.url + "/admin/keys", json={"name": "k-other", "team": "other"},
                       headers={"authorization": f"Bearer {server.admin_key}"}).json()["key"]
    _ask(_client(server), "cached", "team secret")
    assert _ask(_client(server, other), "cached", "team secret")[0] == "miss"
    assert _ask(_client(server, other), "cached", "team secret")[0] == "hit"  # its own entry
    assert _calls("team secret") == 2


def test_privacy_policies(server: RunningServer) -> None:
    client = _client(server)
    assert [_ask(client, "blocked", "nothing personal")[0] for _ in range(2)] == ["skip", "skip"]
    assert _calls("nothing personal") == 2
    text = "write to ada@example.com"  # redact: stored with the placeholder, restored per request
    assert _ask(client, "redacted", text) == ("miss", "echo: " + text)
    assert _ask(client, "redacted", text) == ("hit", "echo: " + text)


def test_sampling_requests_are_answered_by_the_model(server: RunningServer) -> None:
    client = _client(server)
    assert [_ask(client, "cached", "dice", temperature=0.8)[0] for _ in range(2)] == ["skip", "skip"]
    assert [_ask(client, "cached", "dice", temperature=0.8, seed=3)[0] for _ in range(2)] == ["miss", "hit"]
    assert [_ask(client, "sampled", "dice", temperature=0.8)[0] for _ in range(2)] == ["miss", "hit"]
    assert [_ask(client, "cached", "dice", temperature=0)[0] for _ in range(2)] == ["miss", "hit"]


def test_entries_expire_after_the_routes_ttl(server: RunningServer) -> None:
    client = _client(server)
    stage = server.gateway.cache
    _ask(client, "cached", "short lived")
    stage.clock = lambda: time.time() + 61  # the route's ttl_s is 60
    try:
        assert _ask(client, "cached", "short lived")[0] == "miss"
    finally:
        stage.clock = time.time
    assert _ask(client, "cached", "short lived")[0] == "hit"  # the fresh answer replaced it


def test_a_hit_is_recorded_and_counted(server: RunningServer) -> None:
    client = _client(server)
    for name in ("rec-miss", "rec-hit"):
        _ask(client, "cached", "record me", {"x-client-request-id": name})
    rows = asyncio.run(stored_records(server, lambda r: str(r["client_request_id"]).startswith("rec-"),
                                      expected=2))
    miss, hit = (next(r for r in rows if r["client_request_id"] == name) for name in ("rec-miss", "rec-hit"))
    assert miss["extras"]["cache"] == "miss" and not miss["cache_hit"] and miss["cost_usd"] > 0
    assert hit["extras"]["cache"] == "hit" and hit["cache_hit"] and hit["status"] == "ok"
    assert hit["cost_usd"] == 0 and hit["input_tokens"] == 0 and hit["attempts"] == []
    assert hit["extras"]["cache_saved_usd"] == pytest.approx(miss["cost_usd"])
    assert hit["extras"]["cache_original_latency_ms"] > 0
    metrics = httpx.get(server.url + "/metrics", headers={"authorization": f"Bearer {server.admin_key}"}).text
    for family in ("hits", "misses", "saved_usd"):
        assert f'corral_cache_{family}_total{{corral_route="cached"}}' in metrics
