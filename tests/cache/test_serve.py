"""corral.cache.serve: the client's directives, what counts as sampling, and the privacy rule
checked on the stage itself (the integration test covers the rest through a server)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from corral.cache.exact import ExactCache
from corral.cache.memory import BoundedMemoryStore
from corral.cache.serve import client_directive, sampling
from corral.cache.stage import CacheStage
from corral.config import ModelSettings
from corral.core.context import PrivacyOutcome, RequestContext
from corral.core.pipeline import Result
from corral.core.types import ChatRequest, ChatResponse, Message, ToolCall, Usage
from corral.routing.table import Route, RouteTable


@pytest.mark.parametrize(("cache_control", "corral", "expected"), [
    (None, None, None),
    ("no-cache", None, "bypass"),
    ("max-age=0, No-Store", None, "no-store"),
    ("no-cache,no-store", "bypass", "no-store"),
    (None, " Bypass ", "bypass"),
    ("max-age=60", "hit", None),
])
def test_client_directive(cache_control: str | None, corral: str | None, expected: str | None) -> None:
    assert client_directive(cache_control, corral) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({}, False),  # the provider's default: no wish for a fresh sample was expressed
    ({"temperature": 0.0}, False),
    ({"temperature": 1.0}, True),
    ({"top_p": 0.9}, True),
    ({"temperature": 1.0, "seed": 7}, False),  # a seed asks for a reproducible answer
])
def test_sampling(params: dict[str, Any], expected: bool) -> None:
    assert sampling(ChatRequest("m", [Message("user", "hi")], **params)) is expected


def _stage() -> CacheStage:
    data = {"deployments": [{"provider": "p", "model": "m"}], "cache": {"exact": True}}
    routes = RouteTable({"r": Route("r", [], settings=ModelSettings.model_validate(data))}, {}, {})
    return CacheStage(ExactCache(BoundedMemoryStore()), routes)


@pytest.mark.parametrize("policy", ["log-only", "block"])
async def test_a_policy_that_keeps_nothing_neither_reads_nor_writes(policy: str) -> None:
    stage = _stage()
    calls: list[str] = []

    async def model(ctx: RequestContext) -> Result:
        calls.append(ctx.request_id)
        return ChatResponse("x", "m", "an answer", usage=Usage(3, 2))

    for n in range(2):
        ctx = RequestContext(f"req_{n}", ChatRequest("r", [Message("user", "hi")]))
        ctx.privacy = PrivacyOutcome(policy, "route", {}, ctx.request, str)
        await stage(ctx, model)
        assert ctx.response_headers["x-corral-cache"] == "skip" and ctx.cache is not None
        assert ctx.cache.reason == "privacy"
    assert len(calls) == 2 and stage.cache.counters["stores"] == 0


async def test_the_fallback_never_reads_a_tool_call_and_v1_entries_still_read() -> None:
    cache = ExactCache(BoundedMemoryStore())
    call = ChatResponse("x", "m", None, [ToolCall("c1", "f", "{}")], "tool_calls")
    payload = cache.encode(call, tools_ok=True)
    assert payload is not None and cache.encode(call) is None
    await cache.put_encoded("tool", payload)
    assert await cache.get("tool") is None
    entry = await cache.get_entry("tool")
    assert entry is not None and entry.response.tool_calls == call.tool_calls
    v1 = {"v": 1, "id": "x", "model": "m", "content": "hi", "finish_reason": "stop", "usage": None}
    await cache.kv.set(cache.namespace + "old", orjson.dumps(v1))
    assert (await cache.get("old")) == ChatResponse("x", "m", "hi")


def test_the_route_option_is_off_by_default_and_validated() -> None:
    base = {"deployments": [{"provider": "p", "model": "m"}]}
    assert ModelSettings.model_validate(base).cache is None
    rule = ModelSettings.model_validate({**base, "cache": {"exact": True}}).cache
    assert rule is not None and rule.ttl_s == 3600 and not rule.exact_when_sampling
    for bad in ({"exact": True, "ttl_s": 0}, {"exact": True, "ttl_s": 31 * 86400}, {"exakt": True}):
        with pytest.raises(ValueError, match="cache"):
            ModelSettings.model_validate({**base, "cache": bad})
