"""What filing each cache write under its owners (corral.cache.owners) costs on the write path.

Times ``ExactCache.put_encoded`` (what the cache stage awaits in-process, and what the background
writer sends to Redis) with and without owner tags, tags computed per write as the stage does:
the in-process LRU (a write the request awaits) and Redis (a round trip off the request path,
one either way: the tags ride in the same script). Runs on older code too (no tags there), to
compare before and after: ``PYTHONPATH=<old checkout> python bench/cache_owner_tags.py``.

    python bench/cache_owner_tags.py [--writes 20000] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import time
import uuid
from typing import Any

from corral.cache.exact import ExactCache
from corral.cache.memory import BoundedMemoryStore
from corral.core.types import ChatResponse, Usage
from corral.store.kv_redis import RedisKV

try:
    from corral.cache.owners import owner_tags as tags_of
except ImportError:  # code from before owner tags
    tags_of = None  # type: ignore[assignment]


async def _time(cache: ExactCache, payload: bytes, writes: int, tagged: bool) -> float:
    """Microseconds per write, the best of 7 rounds (this machine is shared: the best is the cost)."""
    supports = "tags" in inspect.signature(cache.put_encoded).parameters
    rounds = []
    for r in range(7):
        start = time.perf_counter()
        for i in range(writes):
            key = f"{r}-{i:08d}" + "0" * 54  # a sha256 hex is 64 characters
            if tagged and supports and tags_of is not None:
                tags = tags_of(f"user-{i % 100}", f"key_{i % 10}", f"req_{r}{i}")
                await cache.put_encoded(key, payload, 60, tags)
            else:
                await cache.put_encoded(key, payload, 60)
        rounds.append((time.perf_counter() - start) / writes * 1e6)
    return min(rounds)


async def main(writes: int, redis_url: str | None) -> dict[str, Any]:
    answer = ChatResponse("chatcmpl-1", "gpt-sim", "word " * 100, finish_reason="stop",
                          usage=Usage(input_tokens=20, output_tokens=100))
    probe = ExactCache(BoundedMemoryStore())
    payload = probe.encode(answer)
    assert payload is not None
    out: dict[str, Any] = {"payload_bytes": len(payload), "tags_supported": tags_of is not None}
    for tagged in (False, True):
        memory = ExactCache(BoundedMemoryStore())
        us = await _time(memory, payload, writes, tagged)
        out[f"memory_us_{'tagged' if tagged else 'plain'}"] = round(us, 2)
    if redis_url:
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        kv = RedisKV.from_url(redis_url, prefix=prefix)
        try:
            for tagged in (False, True):
                redis = ExactCache(kv)
                us = await _time(redis, payload, max(writes // 10, 500), tagged)
                out[f"redis_us_{'tagged' if tagged else 'plain'}"] = round(us, 1)
        finally:
            keys = [k async for k in kv.client.scan_iter(match=prefix + "*", count=1000)]
            for i in range(0, len(keys), 1000):
                await kv.client.delete(*keys[i:i + 1000])
            await kv.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    print(asyncio.run(main(args.writes, args.redis or None)))
