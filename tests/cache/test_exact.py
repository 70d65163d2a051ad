"""ExactCache: round trips on memory and Redis, skips what must not be replayed, never raises."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cache.exact import ExactCache
from corral.core.types import ChatResponse, ToolCall, Usage
from corral.store import KV, MemoryKV, RedisKV


def _answer(**kw: Any) -> ChatResponse:
    data: dict[str, Any] = {"id": "r1", "model": "gpt-4o", "content": "Paris.", "created": 1700000000,
                            "usage": Usage(12, 3, cached_tokens=2, estimated=True)}
    data.update(kw)
    return ChatResponse(**data)


async def test_round_trip(kv: KV) -> None:
    cache = ExactCache(kv, ttl_s=60)
    assert await cache.get("k") is None
    assert await cache.put("k", _answer())
    assert await cache.get("k") == _answer()
    assert await cache.put("k2", _answer(usage=None, finish_reason="length"))
    assert await cache.get("k2") == _answer(usage=None, finish_reason="length")
    assert dict(cache.counters) == {"misses": 1, "stores": 2, "hits": 2}
    if isinstance(kv, RedisKV):
        ttl_ms = await kv.client.pttl(kv.prefix + "cache:exact:k")
        assert 0 < ttl_ms <= 60_000


async def test_entries_expire_after_the_ttl() -> None:
    now = [0.0]
    cache = ExactCache(MemoryKV(clock=lambda: now[0]), ttl_s=10)
    await cache.put("k", _answer())
    now[0] = 9.9
    assert await cache.get("k") is not None
    now[0] = 10.1
    assert await cache.get("k") is None


@pytest.mark.parametrize(("reason", "answer"), [
    ("content filter", _answer(finish_reason="content_filter")),
    ("tool calls", _answer(content=None, tool_calls=[ToolCall("c1", "send_email", "{}")],
                           finish_reason="tool_calls")),
    ("tool calls with text", _answer(tool_calls=[ToolCall("c1", "send_email", "{}")])),
    ("empty", _answer(content="")),
    ("unfinished", _answer(finish_reason=None)),
])
async def test_answers_that_must_not_be_replayed_are_skipped(reason: str, answer: ChatResponse) -> None:
    cache = ExactCache(MemoryKV())
    assert not await cache.put("k", answer), reason
    assert await cache.get("k") is None
    assert cache.counters["skipped_uncacheable"] == 1 and cache.counters["stores"] == 0


async def test_oversize_answers_are_skipped(kv: KV) -> None:
    cache = ExactCache(kv, max_bytes=1000)
    assert await cache.put("small", _answer(content="x" * 500))
    assert not await cache.put("big", _answer(content="x" * 1000))
    assert await cache.get("big") is None
    assert cache.counters["skipped_oversize"] == 1


async def test_corrupt_entries_are_dropped(kv: KV) -> None:
    cache = ExactCache(kv)
    for n, junk in enumerate([b"not json", b'{"v": 99}', b'{"v": 1, "id": "x"}', b"[1]"]):
        await kv.set(f"cache:exact:bad{n}", junk)
        assert await cache.get(f"bad{n}") is None
        assert await kv.get(f"cache:exact:bad{n}") is None
    assert cache.counters["corrupt"] == 4


class BrokenKV(MemoryKV):
    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("redis is down")

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        raise ConnectionError("redis is down")

    async def delete(self, key: str) -> bool:
        raise ConnectionError("redis is down")


async def test_kv_failures_are_counted_not_raised() -> None:
    cache = ExactCache(BrokenKV())
    assert not await cache.put("k", _answer())
    assert await cache.get("k") is None
    assert not await cache.delete("k")
    assert cache.counters["errors"] == 3
