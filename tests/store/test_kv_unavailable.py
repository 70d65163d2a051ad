"""The KV says "the shared store is unreachable" in its own words: `KVUnavailable`.

Callers (the router's fail-open, the cache) catch that one error instead of knowing
which client library the backend uses and how it spells a refused connection.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from corral.store import KV, KVUnavailable, MemoryKV, RedisKV


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture
async def unreachable() -> AsyncIterator[RedisKV]:
    kv = RedisKV.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1)
    try:
        yield kv
    finally:
        await kv.close()


@pytest.mark.parametrize("op", ["get", "set", "delete", "incr", "incr_float", "expire"])
async def test_every_redis_operation_raises_kv_unavailable_when_redis_is_unreachable(
    unreachable: RedisKV, op: str
) -> None:
    calls = {
        "get": lambda: unreachable.get("k"),
        "set": lambda: unreachable.set("k", 1, ttl_s=5),
        "delete": lambda: unreachable.delete("k"),
        "incr": lambda: unreachable.incr("k", ttl_s=5),
        "incr_float": lambda: unreachable.incr_float("k", 0.5, ttl_s=5),
        "expire": lambda: unreachable.expire("k", 5),
    }
    with pytest.raises(KVUnavailable) as info:
        await calls[op]()
    assert isinstance(info.value.__cause__, Exception)  # the client's own error stays attached
    assert "Redis" in str(info.value)


async def test_a_wrong_type_is_still_a_value_error_not_unavailability(kv: KV) -> None:
    await kv.set("text", "not a number")
    with pytest.raises(ValueError):
        await kv.incr("text")


def test_local_is_declared_by_every_backend() -> None:
    """`KV.local` is part of the interface: True only when no operation waits on I/O."""
    assert KV.local is False
    assert MemoryKV.local is True
    assert RedisKV.local is False
