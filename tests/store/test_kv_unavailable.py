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


class _RefusingScript:
    """A Redis script object whose server answers with an error reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def __call__(self, **_: object) -> object:
        from redis.exceptions import ResponseError

        raise ResponseError(self.reply)


class _Client:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    def register_script(self, _: str) -> _RefusingScript:
        return _RefusingScript(self.reply)


@pytest.mark.parametrize("reply", [
    "OOM command not allowed when used memory > 'maxmemory'.",
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "BUSY Redis is busy running a script.",
])
async def test_a_server_refusing_to_serve_is_unavailability_not_a_bad_value(reply: str) -> None:
    """A full, read-only or loading Redis answers with an error reply: the router must fail
    open on it like on a lost connection, not turn it into a 500."""
    kv = RedisKV(_Client(reply))
    with pytest.raises(KVUnavailable, match=reply.split()[0]):
        await kv.incr("k", ttl_s=5)


async def test_a_non_numeric_value_reply_is_still_a_value_error() -> None:
    kv = RedisKV(_Client("ERR value is not an integer or out of range script: ..."))
    with pytest.raises(ValueError, match="not an integer"):
        await kv.incr("k")
