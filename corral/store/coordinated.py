"""A worker's view of the local coordinator (corral.store.coordinator): the KV and the meters of
``corral serve --workers N`` without Redis, shared by every worker of the machine.

One connection per process, opened on first use. Requests go out in order and answers come
back in order, so a FIFO of futures matches them; requests made in one event-loop turn leave
in one write (under load, many in one system call). A lost connection fails what is in flight
with :class:`~corral.store.kv.KVUnavailable` (callers fail open, as with Redis) and the next
operation reconnects.

Copies (:meth:`CoordinatedKV.get_cached`, for the breakers' state read on every request): the
first read of a key watches it (corral.store.coordinator) and keeps its value; later reads
answer from the copy, with no round trip, until the coordinator says any process changed the
key, this process changes it, its time to live ends, or the connection is lost.
"""

from __future__ import annotations

import asyncio
import marshal
import math
import os
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any

from corral.store.coordinator import CHANGES, HEADER, frame
from corral.store.kv import DEFAULT_PREFIX, KV, KVUnavailable, Value, encode
from corral.store.kv_url import kv_from_url
from corral.store.meters import Adjustment, Meter, MeterStore, Verdict

ENV_COORDINATOR = "CORRAL_COORDINATOR"  # set by the supervisor for its workers: the socket's path


class _Client(asyncio.Protocol):
    """The connection: futures waiting in request order, frames waiting for this turn's write."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.outgoing: list[bytes] = []
        self.buffer = bytearray()
        self.lost: BaseException | None = None
        self.copies: dict[str, tuple[bytes | None, float]] = {}  # key -> (value, until: monotonic)
        self.fills: dict[asyncio.Future[Any], str] = {}  # a watch in flight -> its key

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("the coordinator closed the connection")
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(KVUnavailable(f"local coordinator connection lost: {self.lost}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = HEADER.unpack_from(buf, pos)
            if len(buf) - pos - 4 < size:
                break
            ok, value = marshal.loads(bytes(buf[pos + 4:pos + 4 + size]))
            pos += 4 + size
            if ok is None:  # a key this process keeps a copy of changed
                self.copies.pop(value, None)
                continue
            future = self.pending.popleft()
            if self.fills and ok and future in self.fills:  # kept now: a change after it comes next
                value, ttl_s = value
                until = math.inf if ttl_s is None else time.monotonic() + ttl_s
                self.copies[self.fills.pop(future)] = (value, until)
            if not future.done():
                future.set_result(value) if ok else future.set_exception(ValueError(value))
        del buf[:pos]

    def send(self, request: tuple[Any, ...], loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        future = loop.create_future()
        self.pending.append(future)
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(frame(request))
        return future

    def send_nowait(self, request: tuple[Any, ...], loop: asyncio.AbstractEventLoop) -> None:
        """Queue an operation the coordinator answers nothing to (it leaves with this turn's write,
        after the operations queued before it)."""
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(frame(("nowait", *request)))

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()


class CoordinatedKV(KV):
    """The KV of the local coordinator: shared by the workers of one ``corral serve``.

    Not ``local`` (every operation is a round trip), so the exact cache keeps its entries in
    the coordinator too (bounded there, by bytes): one cache for every worker, and one place
    for an erasure to reach. Keys travel without ``prefix``: the coordinator serves one gateway.
    """

    def __init__(self, path: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.path = path
        self.prefix = prefix
        self._client: _Client | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connected(self) -> _Client:
        client = self._client
        if client is not None and client.lost is None:
            return client
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None or self._client.lost is not None:
                try:
                    _, self._client = await asyncio.get_running_loop().create_unix_connection(
                        _Client, self.path)
                except OSError as exc:
                    raise KVUnavailable(f"local coordinator unreachable at {self.path}: {exc}") from exc
            return self._client

    async def call(self, *request: Any) -> Any:
        client = self._client
        if client is None or client.lost is not None:
            client = await self._connected()
        if client.copies and request[0] in CHANGES:
            client.copies.pop(request[1], None)  # read what this process wrote, not the copy
        return await client.send(request, asyncio.get_running_loop())

    async def get_cached(self, key: str) -> bytes | None:
        """From this process's copy, kept current by the coordinator (the module doc)."""
        client = self._client
        if client is None or client.lost is not None:
            client = await self._connected()
        else:
            copy = client.copies.get(key)
            if copy is not None and copy[1] > time.monotonic():
                return copy[0]
        future = client.send(("watch", key), asyncio.get_running_loop())
        client.fills[future] = key
        try:
            value: bytes | None = await future
        finally:
            client.fills.pop(future, None)  # failed or cancelled: nothing kept
        return value

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.call("get", key)
        return value

    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None:
        await self.call("set", key, encode(value), ttl_s)

    async def delete(self, key: str) -> bool:
        return bool(await self.call("delete", key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        return int(await self.call("incr", key, int(amount), ttl_s))

    def incr_unread(self, key: str, amount: int = 1, ttl_s: float | None = None,
                    ) -> Coroutine[Any, Any, int] | None:
        """Sent without an answer to wait for when connected; not connected yet (or lost): the
        awaited :meth:`incr`, which connects or raises :class:`~corral.store.kv.KVUnavailable`."""
        client = self._client
        if client is None or client.lost is not None:
            return self.incr(key, amount, ttl_s)
        client.copies.pop(key, None)
        client.send_nowait(("incr", key, int(amount), ttl_s), asyncio.get_running_loop())
        return None

    async def served(self) -> dict[str, int]:
        """Operations the coordinator has run, by name (``"nowait incr"``: sent without an answer)."""
        return dict(await self.call("stats"))

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        return float(await self.call("incr_float", key, float(amount), ttl_s))

    async def expire(self, key: str, ttl_s: float) -> bool:
        return bool(await self.call("expire", key, ttl_s))

    async def set_tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str]) -> None:
        await self.call("set_tagged", key, encode(value), ttl_s, tuple(tags))

    async def delete_tagged(self, tag: str) -> tuple[list[str], int]:
        keys, count = await self.call("delete_tagged", tag)
        return list(keys), int(count)

    async def close(self) -> None:
        if self._client is not None and self._client.transport is not None:
            self._client.transport.close()
        self._client = None


class CoordinatedMeters(MeterStore):
    """Meters in the local coordinator: one check-and-reserve per round trip, for every worker."""

    def __init__(self, kv: CoordinatedKV) -> None:
        self.kv = kv

    async def reserve(self, meters: Sequence[Meter], now: float | None = None) -> Verdict:
        reply = await self.kv.call("reserve", tuple(tuple(m) for m in meters), now)
        return Verdict(*reply)

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        if adjustments:
            await self.kv.call("adjust", tuple(tuple(a) for a in adjustments))

    def adjust_unread(self, adjustments: Sequence[Adjustment]) -> Coroutine[Any, Any, None] | None:
        """Sent without an answer when connected (a settlement nobody waits for), else :meth:`adjust`."""
        client = self.kv._client
        if not adjustments or client is None or client.lost is not None:
            return self.adjust(adjustments)
        client.send_nowait(("adjust", tuple(tuple(a) for a in adjustments)), asyncio.get_running_loop())
        return None

    async def seed(self, key: str, value: float, ttl_s: float) -> None:
        await self.kv.call("seed", key, float(value), ttl_s)

    async def level(self, meter: Meter, now: float | None = None) -> float:
        return float(await self.kv.call("level", tuple(meter), now))


def coordinated_kv_from_env() -> CoordinatedKV | None:
    """The coordinator's KV when this process is a worker of ``corral serve --workers N``."""
    path = os.environ.get(ENV_COORDINATOR)
    return CoordinatedKV(path) if path else None


def gateway_kv(redis_url: str | None) -> KV:
    """The KV a gateway process shares its counters through: Redis when configured, else the
    local coordinator when a ``corral serve --workers N`` supervisor started this process, else
    its own memory."""
    if not redis_url:
        coordinated = coordinated_kv_from_env()
        if coordinated is not None:
            return coordinated
    return kv_from_url(redis_url)
