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
The socket lives in a directory only its owner can enter: ``marshal`` must not read
data from strangers.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import struct
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
        }

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

    def answer(self, request: tuple[Any, ...]) -> bytes:
        """The framed answer to one request."""
        try:
            result = self.ops[request[0]](*request[1:])
        except ValueError as exc:
            return frame((False, str(exc)))
        if result is None:
            return _NONE
        if result is True:
            return _TRUE
        return frame((True, result))


_NONE, _TRUE = frame((True, None)), frame((True, True))  # the commonest answers (set, ping), made once


class _Connection(asyncio.Protocol):
    """One worker's connection: parse every whole frame a read brings, answer them in one write."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data  # usually empty: whole frames per read
        view = memoryview(buf)
        answer = self.coordinator.answer
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 4:
            (size,) = HEADER.unpack_from(buf, pos)
            if size > MAX_FRAME:
                log.warning("coordinator: a %d-byte frame; closing the connection", size)
                assert self.transport is not None
                self.transport.close()
                return
            if end - pos - 4 < size:
                break
            out.append(answer(marshal.loads(view[pos + 4:pos + 4 + size])))
            pos += 4 + size
        view.release()
        self.buffer = buf[pos:] if pos < end else b""
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))


async def serve_coordinator(coordinator: Coordinator, path: str) -> asyncio.AbstractServer:
    """Listen on the Unix socket ``path`` (its directory should be private: mode 0700)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: _Connection(coordinator), path)
    os.chmod(path, 0o600)
    return server
