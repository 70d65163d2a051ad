"""The router fails open when the shared store is unreachable: requests go on, unguarded.

Breakers, retry budgets and latency ordering are protections; losing Redis must not
turn into losing every request. What the router catches is the KV's own
`KVUnavailable`, so it needs no knowledge of the backend's client library.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from corral.config import ModelSettings
from corral.core.context import RequestContext
from corral.core.types import ChatRequest, ChatResponse, Message
from corral.providers.base import ProviderConfig
from corral.routing.router import Router
from corral.routing.table import Deployment, Route, RouteTable
from corral.store import KV, KVUnavailable, MemoryKV, RedisKV
from tests.fakes import FakeProvider
from tests.store.test_kv_unavailable import closed_port


def _table() -> RouteTable:
    provider = FakeProvider(ProviderConfig(name="fake", type="fake"))
    settings = ModelSettings.model_validate({"deployments": [{"provider": "fake", "model": "echo"}]})
    route = Route("gpt", [Deployment(provider, "echo")], settings=settings)
    return RouteTable({"gpt": route}, {}, {"fake": provider})


def _ctx() -> RequestContext:
    return RequestContext("req_1", ChatRequest("gpt", [Message("user", "hello there")]))


class DownKV(MemoryKV):
    """A KV whose every counter operation reports the store unreachable."""

    async def get(self, key: str) -> bytes | None:
        raise KVUnavailable("down for the test")

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        raise KVUnavailable("down for the test")

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        raise KVUnavailable("down for the test")


@pytest_asyncio.fixture
async def unreachable_redis() -> AsyncIterator[KV]:
    kv = RedisKV.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1)
    try:
        yield kv
    finally:
        await kv.close()


async def test_router_answers_when_redis_is_unreachable(
    unreachable_redis: KV, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(_table(), unreachable_redis)
    with caplog.at_level(logging.WARNING, logger="corral.routing"):
        result = await router(_ctx())
    assert isinstance(result, ChatResponse) and result.content == "echo: hello there"
    assert "routing state unavailable (KVUnavailable)" in caplog.text


async def test_router_fails_open_on_kv_unavailable_from_any_backend(caplog: pytest.LogCaptureFixture) -> None:
    router = Router(_table(), DownKV())
    with caplog.at_level(logging.WARNING, logger="corral.routing"):
        result = await router(_ctx())
    assert isinstance(result, ChatResponse) and result.content == "echo: hello there"
    assert "KVUnavailable" in caplog.text


async def test_a_kv_bug_is_not_mistaken_for_an_outage() -> None:
    class BuggyKV(MemoryKV):
        async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
            raise ValueError("value at key is not an integer")

    with pytest.raises(ValueError):
        await Router(_table(), BuggyKV())(_ctx())
