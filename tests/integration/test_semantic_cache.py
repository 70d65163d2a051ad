"""The semantic cache (issue 12, item 3) through a real server and the official openai SDK: a route
with `cache.semantic` answers a reworded question from the cache, refuses a near miss the guard
catches, never answers another team, another system prompt or a request with personal data, and
records what matched and how closely. The embedding model and the guard are the real ones."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
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
    def detect(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    fake = {"provider": "fake", "model": "echo"}
    settings = settings_for(
        tmp_path_factory.mktemp("semantic"), {"fake": {"type": "fake"}},
        {"similar": {"deployments": [fake], "cache": {"semantic": True, "ttl_s": 60}},
         "private": {"deployments": [fake], "cache": {"semantic": True}, "privacy": {"policy": "redact"}},
         "exact-only": {"deployments": [fake], "cache": {"exact": True}}},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(corral.gateway, "load_default_detector", lambda **_: EmailDetector())
        yield from serve_in_thread(create_app(settings, warmup=False))


def _ask(server: RunningServer, text: str, model: str = "similar", key: str | None = None,
         system: str | None = None, **extra: Any) -> tuple[str | None, str | None, str | None]:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)
    messages: Any = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **extra)
    return (raw.headers.get("x-corral-cache"), raw.headers.get("x-corral-cache-match"),
            raw.parse().choices[0].message.content)


def _calls(text: str) -> int:
    return sum(1 for c in FakeProvider.calls if c.messages[-1].text() == text)


def test_a_reworded_question_is_answered_from_the_cache(server: RunningServer) -> None:
    first = "How do I reset my password for the billing portal?"
    assert _ask(server, first)[0] == "miss"
    outcome, match, answer = _ask(server, "how can I reset my password for the billing portal")
    assert outcome == "hit" and match is not None and match.startswith("semantic; similarity=0.")
    assert answer == "echo: " + first  # the earlier question's answer
    assert _calls("how can I reset my password for the billing portal") == 0


def test_a_near_miss_is_not_answered(server: RunningServer) -> None:
    assert _ask(server, "Convert 5 miles to kilometers")[0] == "miss"
    assert _ask(server, "Convert 5 kilometers to miles")[0] == "miss"  # the guard: the order differs
    assert _ask(server, "Convert 7 miles to kilometers")[0] == "miss"  # the guard: the number differs
    assert _ask(server, "How do I enable two-factor login?")[0] == "miss"
    assert _ask(server, "How do I disable two-factor login?")[0] == "miss"


def test_scope_is_team_system_prompt_and_route(server: RunningServer) -> None:
    question = "What is the refund window for annual plans?"
    _ask(server, question, system="You answer for ACME.")
    reworded = "what's the refund window for annual plans"
    assert _ask(server, reworded, system="You answer for Globex.")[0] == "miss"
    other = httpx.post(server.url + "/admin/keys", json={"name": "k-other", "team": "other"},
                       headers={"authorization": f"Bearer {server.admin_key}"}).json()["key"]
    assert _ask(server, "what's the refund window for annual plans", key=other,
                system="You answer for ACME.")[0] == "miss"
    assert _ask(server, "what's the refund window for annual plans", model="exact-only")[0] == "miss"


def test_personal_data_is_never_compared(server: RunningServer) -> None:
    _ask(server, "Please send the invoice to ada@example.com today", model="private")
    outcome = _ask(server, "Please send the invoice to bob@example.com today", model="private")[0]
    assert outcome == "miss"


def test_a_semantic_hit_replays_as_a_stream_and_is_recorded(server: RunningServer) -> None:
    _ask(server, "Summarise the travel policy for contractors",
         extra_headers={"x-client-request-id": "sem-1"})
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    stream = client.chat.completions.create(
        model="similar", stream=True, extra_headers={"x-client-request-id": "sem-2"},
        messages=[{"role": "user", "content": "summarize the travel policy for contractors"}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: Summarise the travel policy for contractors"
    rows = asyncio.run(stored_records(server, lambda r: r["client_request_id"] in ("sem-1", "sem-2"), 2))
    hit = next(r for r in rows if r["client_request_id"] == "sem-2")
    assert hit["cache_hit"] and hit["extras"]["cache_match"] == "semantic"
    assert 0.5 < hit["extras"]["cache_similarity"] < 1.0
    metrics = httpx.get(server.url + "/metrics", headers={"authorization": f"Bearer {server.admin_key}"}).text
    assert "corral_semantic_cache_hits_total" in metrics
