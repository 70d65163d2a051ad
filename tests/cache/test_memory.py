"""The in-process cache store is bounded by bytes (issue 8, item 8)."""

from __future__ import annotations

import pytest

from corral.cache.exact import ExactCache, cache_store
from corral.cache.memory import BoundedMemoryStore
from corral.core.types import ChatResponse
from corral.store.kv import MemoryKV


def _answer(i: int, size: int) -> ChatResponse:
    return ChatResponse(id=f"r{i}", model="m", content=f"{i}:" + "x" * size, finish_reason="stop")


@pytest.mark.asyncio
async def test_distinct_answers_cannot_grow_the_in_process_cache_past_its_bound() -> None:
    cache = ExactCache(cache_store(MemoryKV(), max_total_bytes=4 * 1024 * 1024))
    for i in range(1200):  # the review's case: 1,200 distinct 25 KiB answers (41 MiB unbounded)
        assert await cache.put(f"key{i}", _answer(i, 25 * 1024))
    stats = cache.stats()
    assert stats["bytes"] <= 4 * 1024 * 1024 and stats["evictions"] > 1000
    assert await cache.get("key1199") is not None, "the newest entries stay"
    assert await cache.get("key0") is None, "the oldest were evicted"


@pytest.mark.asyncio
async def test_eviction_is_least_recently_used_and_accounting_balances() -> None:
    store = BoundedMemoryStore(max_bytes=3 * 1200)  # three entries of 1,000 bytes fit, four do not
    for key in ("a", "b", "c"):
        await store.set(key, b"x" * 1000, ttl_s=60)
    assert await store.get("a") == b"x" * 1000  # a is now the most recently used
    await store.set("d", b"x" * 1000, ttl_s=60)
    assert await store.get("b") is None and await store.get("a") is not None
    await store.set("a", b"y" * 10, ttl_s=60)  # replacing an entry frees its old size
    assert await store.delete("a") and await store.delete("c") and await store.delete("d")
    assert store.bytes == 0 and store.stats()["entries"] == 0


@pytest.mark.asyncio
async def test_expired_entries_are_not_served() -> None:
    now = [0.0]
    store = BoundedMemoryStore(max_bytes=10_000, clock=lambda: now[0])
    await store.set("k", b"v", ttl_s=5)
    now[0] = 6.0
    assert await store.get("k") is None and store.bytes == 0


@pytest.mark.asyncio
async def test_an_entry_larger_than_the_whole_bound_is_not_kept() -> None:
    store = BoundedMemoryStore(max_bytes=500)
    await store.set("big", b"x" * 1000)
    assert await store.get("big") is None and store.bytes == 0


async def test_the_byte_cap_counts_what_entries_really_hold() -> None:
    """orjson's output keeps its whole 4 KiB buffer for a 500-byte answer: stored as is, the
    64 MiB cap would have held ~450 MB (found by bench/soak.py with every prompt new)."""
    import tracemalloc

    import orjson

    store = BoundedMemoryStore(max_bytes=64 * 1024 * 1024)
    tracemalloc.start()  # traces what is allocated from here on: the answers' buffers included
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            await store.set(f"k{i}", orjson.dumps({"answer": "x" * 480, "i": i}))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 2000 < 1200, f"{held / 2000:.0f} bytes held per 500-byte entry"
