"""KV counters on MemoryKV and Redis: TTLs, atomic increments, prefixes."""

from __future__ import annotations

import asyncio

import pytest

from corral.store import KV, MemoryKV, RedisKV, kv_from_url


@pytest.mark.asyncio
async def test_get_set_delete(kv: KV) -> None:
    assert await kv.get("missing") is None
    await kv.set("b", b"\x00raw")
    await kv.set("s", "text")
    await kv.set("i", 7)
    await kv.set("f", 1.5)
    assert [await kv.get(k) for k in "bsif"] == [b"\x00raw", b"text", b"7", b"1.5"]
    assert await kv.delete("s") is True
    assert await kv.delete("s") is False
    assert await kv.get("s") is None


@pytest.mark.asyncio
async def test_set_ttl_expires(kv: KV) -> None:
    await kv.set("t", "v", ttl_s=0.05)
    await kv.set("forever", "v")
    assert await kv.get("t") == b"v"
    await asyncio.sleep(0.15)
    assert await kv.get("t") is None
    assert await kv.get("forever") == b"v"


@pytest.mark.asyncio
async def test_incr_sets_ttl_only_on_creation(kv: KV) -> None:
    # 0.5 s, not less: on a loaded machine two calls can be 50 ms apart (a flake seen in a full run)
    assert await kv.incr("c", ttl_s=0.5) == 1
    assert await kv.incr("c", 4) == 5
    assert await kv.incr("long", ttl_s=30) == 1
    assert await kv.incr("long", ttl_s=0.05) == 2  # must not shorten (or extend) the window
    await asyncio.sleep(0.7)
    assert await kv.get("c") is None
    assert await kv.get("long") == b"2"
    assert await kv.incr("c", ttl_s=0.05) == 1  # a new window starts from zero


@pytest.mark.asyncio
async def test_incr_ttl_applies_to_key_without_expiry(kv: KV) -> None:
    await kv.set("n", 5)
    assert await kv.incr("n", ttl_s=0.05) == 6
    await asyncio.sleep(0.15)
    assert await kv.get("n") is None


@pytest.mark.asyncio
async def test_incr_float(kv: KV) -> None:
    assert await kv.incr_float("cost", 0.5) == pytest.approx(0.5)
    assert await kv.incr_float("cost", 0.25) == pytest.approx(0.75)
    assert float(await kv.get("cost") or b"nan") == pytest.approx(0.75)
    assert await kv.incr_float("cost", 0.25) == pytest.approx(1.0)
    assert await kv.get("cost") == b"1"
    assert await kv.incr("cost") == 2  # integral float text is still a valid int


@pytest.mark.asyncio
async def test_incr_rejects_non_numbers(kv: KV) -> None:
    await kv.set("word", "abc")
    with pytest.raises(ValueError):
        await kv.incr("word")
    with pytest.raises(ValueError):
        await kv.incr_float("word", 1.0)


@pytest.mark.asyncio
async def test_concurrent_incr_is_atomic(kv: KV) -> None:
    n = 200
    results = await asyncio.gather(*(kv.incr("hits", ttl_s=30) for _ in range(n)))
    assert sorted(results) == list(range(1, n + 1))
    assert await kv.get("hits") == str(n).encode()
    floats = await asyncio.gather(*(kv.incr_float("spend", 0.5) for _ in range(100)))
    assert max(floats) == pytest.approx(50.0)


@pytest.mark.asyncio
async def test_expire(kv: KV) -> None:
    assert await kv.expire("nope", 1) is False
    await kv.set("e", "v")
    assert await kv.expire("e", 0.05) is True
    await asyncio.sleep(0.15)
    assert await kv.get("e") is None


@pytest.mark.asyncio
async def test_invalid_ttl(kv: KV) -> None:
    with pytest.raises(ValueError, match="positive"):
        await kv.set("x", 1, ttl_s=0)


@pytest.mark.asyncio
async def test_memory_kv_with_fake_clock_sweeps_expired_keys() -> None:
    now = [100.0]
    kv = MemoryKV(clock=lambda: now[0])
    await kv.incr("a", ttl_s=10)
    now[0] += 9.9
    assert await kv.get("a") == b"1"
    now[0] += 0.2
    assert await kv.get("a") is None
    for i in range(MemoryKV._SWEEP_EVERY):
        await kv.set(f"k{i}", 1, ttl_s=1)
    now[0] += 2
    await kv.set("trigger", 1)  # next multiple of the sweep interval is reached below
    for _ in range(MemoryKV._SWEEP_EVERY):
        await kv.set("trigger", 1)
    assert len(kv._data) == 1


@pytest.mark.asyncio
async def test_prefix_namespaces_keys() -> None:
    a, b = MemoryKV(prefix="a:"), MemoryKV(prefix="b:")
    b._data = a._data  # same storage, different namespaces
    await a.set("k", 1)
    assert await b.get("k") is None
    assert "a:k" in a._data


@pytest.mark.asyncio
async def test_kv_from_url() -> None:
    assert isinstance(kv_from_url(None), MemoryKV)
    assert isinstance(kv_from_url("memory://"), MemoryKV)
    redis_kv = kv_from_url("redis://127.0.0.1:6379/15", prefix="p:")
    assert isinstance(redis_kv, RedisKV)
    assert redis_kv.prefix == "p:"
    await redis_kv.close()
    with pytest.raises(ValueError, match="unsupported"):
        kv_from_url("http://example")
