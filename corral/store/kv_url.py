"""Pick the KV backend from configuration: one module that knows every backend."""

from __future__ import annotations

from corral.store.kv import DEFAULT_PREFIX, KV, MemoryKV
from corral.store.kv_redis import RedisKV


def kv_from_url(url: str | None, prefix: str = DEFAULT_PREFIX) -> KV:
    """Pick the backend from configuration.

    ``None``, ``""`` or ``memory://`` → :class:`MemoryKV`;
    ``redis://``, ``rediss://``, ``unix://`` → :class:`RedisKV`.
    """
    if not url or url.startswith("memory:"):
        return MemoryKV(prefix=prefix)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisKV.from_url(url, prefix=prefix)  # (redis-py itself loads only then)
    raise ValueError(f"unsupported KV URL scheme in {url.split('://', 1)[0]!r} (use redis:// or leave unset)")
