"""CacheWriter: remote-KV writes off the request path, bounded, drained at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.cache.exact import ExactCache
from corral.cache.writer import CacheWriter
from corral.store import MemoryKV


class GatedKV(MemoryKV):
    """A network KV stand-in: every write waits for the gate; can fail instead."""

    local = False

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.fail = fail
        self.started = 0

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        self.started += 1
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("redis is down (test)")
        await super().set(key, value, ttl_s)


async def test_writes_in_flight_count_toward_the_bound() -> None:
    kv = GatedKV()
    cache = ExactCache(kv)
    writer = CacheWriter(cache, max_pending=3)
    assert writer.put("a", b"1")
    await asyncio.sleep(0.01)  # the writer took "a" and waits on the KV
    assert kv.started == 1
    assert [writer.put(k, b"x") for k in "bcde"] == [True, True, False, False]
    assert cache.counters["skipped_busy"] == 2 and writer.pending == 3
    kv.gate.set()
    await writer.aclose()
    assert cache.counters["stores"] == 3 and writer.pending == 0
    assert await cache.kv.get(cache.namespace + "c") == b"x"


async def test_drain_finishes_the_writes_stops_and_the_next_write_restarts() -> None:
    kv = GatedKV()
    kv.gate.set()
    cache = ExactCache(kv)
    writer = CacheWriter(cache, batch_size=2)
    for n in range(5):
        writer.put(f"k{n}", b"v")
    await writer.aclose()
    assert cache.counters["stores"] == 5 and writer._task is None
    writer.put("later", b"v")
    await writer.aclose()
    assert cache.counters["stores"] == 6


async def test_kv_failures_are_counted_not_raised() -> None:
    kv = GatedKV(fail=True)
    kv.gate.set()
    cache = ExactCache(kv)
    writer = CacheWriter(cache)
    writer.put("a", b"1")
    writer.put("b", b"2")
    await writer.aclose()
    assert cache.counters["errors"] == 2 and cache.counters["stores"] == 0


async def test_drain_gives_up_on_a_hung_kv() -> None:
    kv = GatedKV()  # the gate never opens
    writer = CacheWriter(ExactCache(kv), batch_size=1)
    writer.put("a", b"1")
    writer.put("b", b"2")
    await asyncio.sleep(0.01)
    await asyncio.wait_for(writer.aclose(timeout_s=0.05), 1)
    assert writer.counters["dropped_on_close"] == 1 and writer.pending == 0
