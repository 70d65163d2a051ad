"""Key-value counters shared by rate limits, budgets, circuit breakers and caches.

:class:`MemoryKV` serves a single process (the embedded default);
:class:`~corral.store.kv_redis.RedisKV` makes the same counters shared by every replica. Both store
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

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
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
        """:meth:`incr` a counter whose new value the caller will not read. None: taken, nothing to
        wait for (the local coordinator sends it at once, in order with this process's later
        operations; Redis adds it to a tally sent every few ms, which this process's own reads
        include); else the operation for the caller to await (the in-process store)."""
        return self.incr(key, amount, ttl_s)

    async def send_counts(self) -> None:
        """Send now what :meth:`incr_unread` holds back (Redis: a short window; elsewhere nothing)."""

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
