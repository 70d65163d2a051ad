"""The local coordinator: one process's counters served to the other processes of one machine.

Why: ``corral serve --workers N`` without Redis runs N processes, and in-process counters
would give each its own rate limits, budgets and breakers (an rpm limit of 60 would admit
60 x N). The supervisor hosts the one :class:`~corral.store.kv.MemoryKV`, the one
:class:`~corral.store.meters.MemoryMeters` and the one bounded cache store; workers reach
them over a Unix socket (corral.store.coordinated), one round trip per operation, like Redis.

Atomic like Redis: the server runs each operation to completion on its event loop (none of
the stores awaits anything), so a check-and-reserve is never interleaved with another.

Wire format, both ways: a 4-byte big-endian length, then a ``marshal`` payload (tuples of
str, bytes, int, float, None: no code is ever loaded). A request is ``(op, *args)``; the
answer ``(True, result)`` or ``(False, message)`` for a bad value (the caller's
``ValueError``). Answers come back in request order, so the client needs no request ids.
``("nowait", op, *args)`` runs ``op`` and answers nothing: a counter whose new value nobody
reads (a bad value is logged here, as nobody waits to be told). The socket lives in a
directory only its owner can enter: ``marshal`` must not read data from strangers.

Copies kept by workers: ``("watch", key)`` answers ``(value, seconds it has left or None)``
like a ``get``, and remembers that this connection keeps a copy. The first change to the key
by anyone (set, delete, incr, expire) sends that connection ``(None, key)``, once, in its
stream of answers: a worker's copy is never older than what its own answers have shown it
(the rule of Redis's client-side caching). The watch is then over until the next ``watch``.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import struct
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from corral.store.kv import MemoryKV
from corral.store.meters import Adjustment, MemoryMeters, Meter

log = logging.getLogger("corral.store.coordinator")

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # a cached answer is at most a few hundred KiB; more is a broken peer
CACHE_NAMESPACE = "cache:"  # keys under it go to the bounded cache store (corral.cache.exact)


class CacheStore(Protocol):
    """What the cache keeps its answers in (corral.cache.memory.BoundedMemoryStore), injected
    by the supervisor: the store layer does not import the cache."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def set_tagged(self, key: str, value: bytes, ttl_s: float, tags: Sequence[str]) -> None: ...
    async def delete_tagged(self, tag: str) -> tuple[list[str], int]: ...


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its end, without a task (the stores' methods are
    ``async`` for the interface only)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a coordinator store suspended: it must never wait")


def frame(payload: Any) -> bytes:
    data = marshal.dumps(payload)
    return HEADER.pack(len(data)) + data


class Coordinator:
    """The shared state and its operations (what the socket serves)."""

    def __init__(self, cache: CacheStore, kv: MemoryKV | None = None,
                 meters: MemoryMeters | None = None) -> None:
        self.kv = kv or MemoryKV(prefix="")
        self.meters = meters or MemoryMeters()
        self.cache = cache
        self.ops: dict[str, Callable[..., Any]] = {
            "get": self._get, "set": self._set, "delete": self._delete,
            "incr": lambda k, a, t: run_now(self.kv.incr(k, a, t)),
            "incr_float": lambda k, a, t: run_now(self.kv.incr_float(k, a, t)),
            "expire": lambda k, t: run_now(self.kv.expire(k, t)),
            "set_tagged": lambda k, v, t, tags: run_now(self.cache.set_tagged(k, v, t, tags)),
            "delete_tagged": lambda tag: tuple(run_now(self.cache.delete_tagged(tag))),
            "reserve": self._reserve,
            "adjust": lambda adjustments: self.meters.adjust_now([Adjustment(*a) for a in adjustments]),
            "seed": lambda k, v, t: run_now(self.meters.seed(k, v, t)),
            "level": lambda m, now: run_now(self.meters.level(Meter(*m), now)),
            "ping": lambda: True,
            "stats": lambda: tuple(self.served.items()),
        }
        self.served: Counter[str] = Counter()  # operations by name ("nowait incr"): what a request costs
        self.watchers: dict[str, set[_Connection]] = {}  # key -> the connections holding a copy

    def _get(self, key: str) -> bytes | None:
        store = self.cache if key.startswith(CACHE_NAMESPACE) else self.kv
        return run_now(store.get(key))  # type: ignore[no-any-return]

    def _set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        store = self.cache if key.startswith(CACHE_NAMESPACE) else self.kv
        run_now(store.set(key, value, ttl_s))

    def _delete(self, key: str) -> bool:
        store = self.cache if key.startswith(CACHE_NAMESPACE) else self.kv
        return bool(run_now(store.delete(key)))

    def _reserve(self, meters: list[tuple[Any, ...]], now: float | None) -> tuple[Any, ...]:
        return tuple(self.meters.reserve_now([Meter(*m) for m in meters], now))

    def answer(self, request: tuple[Any, ...], conn: _Connection | None = None) -> bytes:
        """The framed answer to one request (empty for a ``nowait`` one) from ``conn``."""
        op = request[0]
        if op == "nowait":
            return self._nowait(request[1:])
        self.served[op] += 1
        result: Any
        try:
            if op == "watch":
                result = self._watch(request[1], conn)
            else:
                result = self.ops[op](*request[1:])
                if self.watchers and op in CHANGES and request[1] in self.watchers:
                    self._changed(request[1])
        except ValueError as exc:
            return frame((False, str(exc)))
        if result is None:
            return _NONE
        if result is True:
            return _TRUE
        return frame((True, result))

    def _nowait(self, request: tuple[Any, ...]) -> bytes:
        op = request[0]
        self.served["nowait " + op] += 1
        try:
            self.ops[op](*request[1:])
        except ValueError as exc:
            log.warning("coordinator: %s %r: %s", op, request[1:2], exc)
            return b""
        if self.watchers and op in CHANGES and request[1] in self.watchers:
            self._changed(request[1])
        return b""

    def _watch(self, key: str, conn: _Connection | None) -> tuple[bytes | None, float | None]:
        """A KV key's value and the seconds it has left; ``conn`` is told of its next change."""
        if key.startswith(CACHE_NAMESPACE):
            raise ValueError("cache entries are not watched")
        if conn is not None:
            self.watchers.setdefault(key, set()).add(conn)
            conn.watching.add(key)
        item = self.kv._live(key)  # the store's own package: value and deadline
        if item is None:
            return None, None
        return item[0], None if item[1] is None else max(item[1] - self.kv._clock(), 0.0)

    def _changed(self, key: str) -> None:
        for conn in self.watchers.pop(key):
            conn.watching.discard(key)
            conn.push(frame((None, key)))

    def forget(self, conn: _Connection) -> None:
        """A closed connection's watches."""
        for key in conn.watching:
            watchers = self.watchers.get(key)
            if watchers is not None:
                watchers.discard(conn)
                if not watchers:
                    del self.watchers[key]
        conn.watching.clear()


_NONE, _TRUE = frame((True, None)), frame((True, True))  # the commonest answers (set, ping), made once
CHANGES = frozenset({"set", "delete", "incr", "incr_float", "expire"})  # what ends a watch of its key


class _Connection(asyncio.Protocol):
    """One worker's connection: parse every whole frame a read brings, answer them in one write."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.watching: set[str] = set()  # keys this worker holds a copy of
        self.out: list[bytes] | None = None  # the answers of the read being handled

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.coordinator.forget(self)

    def push(self, message: bytes) -> None:
        """Tell the worker something it did not ask, after the answers already due to it."""
        if self.out is not None:
            self.out.append(message)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(message)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data  # usually empty: whole frames per read
        out: list[bytes] = []
        self.out = out  # pushes to this connection meanwhile go after the answers before them
        try:
            pos = self._answer_all(buf, out)
        finally:
            self.out = None
        if pos < 0:
            return
        self.buffer = buf[pos:] if pos < len(buf) else b""
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _answer_all(self, buf: bytes, out: list[bytes]) -> int:
        """Answer every whole frame of ``buf`` into ``out``: where the rest starts (-1: closed)."""
        answer = self.coordinator.answer
        pos, end = 0, len(buf)
        with memoryview(buf) as view:
            while end - pos >= 4:
                (size,) = HEADER.unpack_from(buf, pos)
                if size > MAX_FRAME:
                    log.warning("coordinator: a %d-byte frame; closing the connection", size)
                    assert self.transport is not None
                    self.transport.close()
                    return -1
                if end - pos - 4 < size:
                    break
                reply = answer(marshal.loads(view[pos + 4:pos + 4 + size]), self)
                if reply:
                    out.append(reply)
                pos += 4 + size
        return pos


async def serve_coordinator(coordinator: Coordinator, path: str) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (its directory should be private: mode 0700)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: _Connection(coordinator), path)
    os.chmod(path, 0o600)
    return server
