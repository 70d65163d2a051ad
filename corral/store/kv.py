"""Key-value counters shared by rate limits, budgets, circuit breakers and caches.

:class:`MemoryKV` serves a single process (the embedded default);
:class:`RedisKV` makes the same counters shared by every replica. Both store
values as bytes with Redis semantics (``incr`` on a missing key starts at 0,
integers are stored as their decimal text), so features behave the same on
either backend.

TTL rule for ``incr``/``incr_float``: ``ttl_s`` is applied only when the key
has no expiry — i.e. when the increment created it. An existing expiry is
never extended, which gives fixed windows (``"rl:key:minute-17"``) that
cannot live forever even if a writer crashes between increments.

Errors: a backend that cannot reach its store (refused, reset, timed out, or the
server refusing to serve) raises :class:`KVUnavailable`, with the client library's
error as its cause. Callers decide what an outage means (the router fails open) by
catching that one type; no module outside ``corral.store`` imports a KV client
library. A value of the wrong type for the operation stays a ``ValueError``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

Value = bytes | str | int | float

DEFAULT_PREFIX = "corral:"


def encode(value: Value) -> bytes:
    """Encode like redis-py does, so both backends return identical bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        raise TypeError("bool is ambiguous as a KV value; use int")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    return value.encode()


def _format_float(value: float) -> bytes:
    # Redis INCRBYFLOAT drops a trailing ".0"; match it.
    if value.is_integer() and abs(value) < 1e17:
        return str(int(value)).encode()
    return repr(value).encode()


def _ttl_ms(ttl_s: float) -> int:
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    return max(1, math.ceil(ttl_s * 1000))


class KVUnavailable(Exception):
    """The shared store could not serve an operation: unreachable, timed out, or refusing.

    Raised by every backend for an outage (never for a bad value, which is ``ValueError``),
    so callers choose one policy for it, such as failing open, without importing the
    backend's client library.
    """


class KV(ABC):
    """Async counter/value store. Keys are namespaced with ``prefix``.

    ``local`` is part of the interface: True when no operation waits on I/O (the
    in-process store), so callers may await a write inline instead of moving it to a
    background task, or skip gathering several reads. Network backends leave it False.
    """

    prefix: str = DEFAULT_PREFIX
    local: bool = False

    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None: ...

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Atomically add ``amount`` and return the new value (see module doc for TTL)."""

    @abstractmethod
    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        """Float version of :meth:`incr` (budgets in currency units)."""

    @abstractmethod
    async def expire(self, key: str, ttl_s: float) -> bool:
        """Set a TTL on an existing key; False if the key does not exist."""

    async def get_cached(self, key: str) -> bytes | None:
        """:meth:`get` a key read far more often than written. A store may answer from a copy it
        keeps current: the local coordinator's is dropped as soon as any process changes the key."""
        return await self.get(key)

    def incr_unread(self, key: str, amount: int = 1, ttl_s: float | None = None,
                    ) -> Coroutine[Any, Any, int] | None:
        """:meth:`incr` a counter whose new value the caller will not read. None: already sent,
        without waiting for an answer (the local coordinator: in order with this process's later
        operations); else the operation for the caller to await (what every other store does)."""
        return self.incr(key, amount, ttl_s)

    async def set_tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str]) -> None:
        """:meth:`set` ``key``, and file it under each tag, so :meth:`delete_tagged` finds it
        (erasure by owner: cache keys are one-way hashes). A tag lives as long as its newest key."""
        raise NotImplementedError(f"{type(self).__name__} does not keep tags")

    async def delete_tagged(self, tag: str) -> tuple[list[str], int]:
        """Delete every key filed under ``tag``, and the tag: (the keys it named, how many existed)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep tags")

    async def close(self) -> None:
        """Release connections."""


class MemoryKV(KV):
    """In-process KV with TTLs.

    asyncio-safe without locks: no method awaits between reading and writing
    the dict, so each operation is atomic with respect to other coroutines.
    Not shared between processes — use :class:`RedisKV` for replicas.
    """

    local = True  # operations never wait on I/O: callers may skip gathering them

    _SWEEP_EVERY = 1024

    def __init__(self, prefix: str = DEFAULT_PREFIX, clock: Callable[[], float] = time.monotonic) -> None:
        self.prefix = prefix
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._tags: dict[str, dict[str, float]] = {}  # tag -> key -> its deadline
        self._ops = 0

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _tick(self) -> None:
        self._ops += 1
        if self._ops % self._SWEEP_EVERY == 0:
            now = self._clock()
            for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
                del self._data[k]
            for tag, keys in list(self._tags.items()):  # tags hold keys as long as they live
                for k in [k for k, deadline in keys.items() if deadline <= now]:
                    del keys[k]
                if not keys:
                    del self._tags[tag]

    def _deadline(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + _ttl_ms(ttl_s) / 1000

    async def get(self, key: str) -> bytes | None:
        item = self._live(self.prefix + key)
        return None if item is None else item[0]

    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None:
        self._tick()
        self._data[self.prefix + key] = (encode(value), self._deadline(ttl_s))

    async def delete(self, key: str) -> bool:
        full = self.prefix + key
        existed = self._live(full) is not None
        self._data.pop(full, None)
        return existed

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        self._tick()
        full = self.prefix + key
        item = self._live(full)
        try:
            current = int(item[0]) if item else 0
        except ValueError:
            raise ValueError(f"value at {key!r} is not an integer") from None
        new = current + amount
        deadline = item[1] if item and item[1] is not None else self._deadline(ttl_s)
        self._data[full] = (str(new).encode(), deadline)
        return new

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        self._tick()
        full = self.prefix + key
        item = self._live(full)
        try:
            current = float(item[0]) if item else 0.0
        except ValueError:
            raise ValueError(f"value at {key!r} is not a number") from None
        new = current + amount
        deadline = item[1] if item and item[1] is not None else self._deadline(ttl_s)
        self._data[full] = (_format_float(new), deadline)
        return new

    async def expire(self, key: str, ttl_s: float) -> bool:
        full = self.prefix + key
        item = self._live(full)
        if item is None:
            return False
        self._data[full] = (item[0], self._deadline(ttl_s))
        return True

    async def set_tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str]) -> None:
        await self.set(key, value, ttl_s)  # expired keys leave their tags at the periodic sweep
        deadline = self._clock() + ttl_s
        for tag in tags:
            self._tags.setdefault(tag, {})[key] = deadline

    async def delete_tagged(self, tag: str) -> tuple[list[str], int]:
        keys = list(self._tags.pop(tag, {}))
        return keys, sum([await self.delete(k) for k in keys])


# INCRBY/INCRBYFLOAT + PEXPIRE in one round trip, atomically on the server.
_INCR_LUA = """
local v = redis.call(ARGV[1], KEYS[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return v
"""


# SET the entry, then file it in each tag: a sorted set by deadline, pruned of expired keys and
# kept alive as long as its newest key. ARGV: value, ttl ms, key, deadline ms, now ms.
_SET_TAGGED_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
"""
# Delete the tag's keys (named relative to the prefix, ARGV[1]) and the tag: {count, keys...}.
_DELETE_TAGGED_LUA = """
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, k in ipairs(keys) do n = n + redis.call('DEL', ARGV[1] .. k) end
redis.call('DEL', KEYS[1])
table.insert(keys, 1, n)
return keys
"""


@functools.cache
def _redis_outages() -> tuple[type[BaseException], ...]:
    """What the Redis client raises when the server cannot serve: imported on first use."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)  # OSError: refused/reset sockets the client lets through


def _is_bad_value(reply: Exception) -> bool:
    """Whether an error reply to the incr script is about the stored value (not a number),
    rather than the server refusing to serve (full, read-only replica, loading, busy)."""
    text = str(reply)
    return "not an integer" in text or "not a valid float" in text or "WRONGTYPE" in text


class RedisKV(KV):
    """KV on Redis (``redis.asyncio``) — counters shared by all replicas.

    Every client error becomes :class:`KVUnavailable` (connection refused or lost,
    timeouts, a full pool, a server refusing a command: out of memory, a read-only replica,
    loading) except an error reply about the value itself (not a number, wrong type), which
    is the caller's ``ValueError``.
    """

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.client = client
        self._incr = client.register_script(_INCR_LUA)
        self._set_tagged = client.register_script(_SET_TAGGED_LUA)
        self._delete_tagged = client.register_script(_DELETE_TAGGED_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        max_connections: int = 50,
        pool_timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> RedisKV:
        """Client on a *blocking* pool: bursts wait for a free connection
        (up to ``pool_timeout_s``) instead of failing with "Too many connections"."""
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            decode_responses=False,
            **kwargs,
        )
        return cls(Redis.from_pool(pool), prefix=prefix)

    @staticmethod
    @contextlib.contextmanager
    def _outage(op: str) -> Iterator[None]:
        """Re-raise the client's errors as :class:`KVUnavailable` naming the operation."""
        try:
            yield
        except _redis_outages() as exc:
            raise KVUnavailable(f"Redis {op} failed: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        with self._outage("GET"):
            value: bytes | None = await self.client.get(self.prefix + key)
        return value

    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else _ttl_ms(ttl_s)
        with self._outage("SET"):
            await self.client.set(self.prefix + key, encode(value), px=px)

    async def delete(self, key: str) -> bool:
        with self._outage("DEL"):
            return bool(await self.client.delete(self.prefix + key))

    async def _run_incr(self, op: str, key: str, amount: Value, ttl_s: float | None) -> Any:
        from redis.exceptions import ResponseError

        ttl = "" if ttl_s is None else str(_ttl_ms(ttl_s))
        with self._outage(op):
            try:
                return await self._incr(keys=[self.prefix + key], args=[op, amount, ttl])
            except ResponseError as e:
                if not _is_bad_value(e):
                    raise  # OOM, READONLY, LOADING, BUSY...: the server cannot serve (_outage)
                raise ValueError(f"{op} on {key!r} failed: {e}") from e

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        return int(await self._run_incr("INCRBY", key, int(amount), ttl_s))

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        return float(await self._run_incr("INCRBYFLOAT", key, repr(float(amount)), ttl_s))

    async def expire(self, key: str, ttl_s: float) -> bool:
        with self._outage("PEXPIRE"):
            return bool(await self.client.pexpire(self.prefix + key, _ttl_ms(ttl_s)))

    async def set_tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str]) -> None:
        ttl, now = _ttl_ms(ttl_s), int(time.time() * 1000)  # one round trip, as a SET
        with self._outage("SET"):
            await self._set_tagged(keys=[self.prefix + key, *(self.prefix + t for t in tags)],
                                   args=[encode(value), ttl, key, now + ttl, now])

    async def delete_tagged(self, tag: str) -> tuple[list[str], int]:
        with self._outage("DEL"):
            reply = await self._delete_tagged(keys=[self.prefix + tag], args=[self.prefix])
        return [k.decode() if isinstance(k, bytes) else str(k) for k in reply[1:]], int(reply[0])

    async def close(self) -> None:
        await self.client.aclose()


def kv_from_url(url: str | None, prefix: str = DEFAULT_PREFIX) -> KV:
    """Pick the backend from configuration.

    ``None``, ``""`` or ``memory://`` → :class:`MemoryKV`;
    ``redis://``, ``rediss://``, ``unix://`` → :class:`RedisKV`.
    """
    if not url or url.startswith("memory:"):
        return MemoryKV(prefix=prefix)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisKV.from_url(url, prefix=prefix)
    raise ValueError(f"unsupported KV URL scheme in {url.split('://', 1)[0]!r} (use redis:// or leave unset)")
