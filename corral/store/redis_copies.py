"""Copies of rarely written Redis keys kept in the process, current through Redis's own
invalidation messages (server-assisted client-side caching, RESP2 redirect mode).

The breakers' state is read on every request and written only when a breaker trips or
closes. Reading it from Redis cost a round trip of redis-py per request; here the first read
of a key goes through a dedicated connection with ``CLIENT TRACKING ON REDIRECT``, so Redis
remembers that this process holds it and, when any client changes it (or it expires, or the
database is flushed), sends the key's name to this process's subscriber connection, which drops
the copy. Later reads answer from the copy with no round trip.

What keeps a copy honest:

- a read that straddles an invalidation is not kept (``epoch``: the message may overtake the
  reply, which travels on another connection);
- a write by this process drops its own copy at once (the message is only a few ms behind);
- a lost or failed connection drops every copy, and reads go to Redis (the caller's
  ordinary ``GET``) until both connections are back, retried at most every ``RECONNECT_S``;
- every copy lives at most ``MAX_AGE_S``, whatever happens to the messages (a link that is
  silently cut delivers none), and no longer than the key's time to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "__redis__:invalidate"
MAX_AGE_S = 5.0
RECONNECT_S = 1.0
MAX_COPIES = 10_000


class RedisCopies:
    """The copies of one Redis client (see the module doc); keys are full Redis names."""

    def __init__(self, connection_class: type[Any], connection_kwargs: dict[str, Any],
                 clock: Any = time.monotonic) -> None:
        # RESP2: a subscribed connection receives plain pub/sub messages, and a socket timeout
        # must not end the subscriber's wait for the next one
        self._connection_class = connection_class
        # (and without the pool's RESP3-only maintenance notifications)
        self._connection_kwargs = {k: v for k, v in connection_kwargs.items() if not k.startswith("maint_")}
        self._connection_kwargs.update(protocol=2, socket_timeout=None)
        self._clock = clock
        self.copies: dict[str, tuple[bytes | None, float]] = {}  # key -> (value, until)
        self.epoch = 0  # invalidations received (a read that straddles one is not kept)
        self.counts = {"hits": 0, "fills": 0, "invalidations": 0, "losses": 0, "failed_starts": 0}
        self._reader: Any = None  # the tracked connection: reads of watched keys go through it
        self._subscriber: Any = None
        self._listening: asyncio.Task[None] | None = None
        self._read_lock: asyncio.Lock | None = None
        self._next_try = 0.0
        self._closing: set[asyncio.Task[None]] = set()
        self._reads: dict[str, asyncio.Future[tuple[bool, bytes | None]]] = {}  # in flight, by key

    @property
    def ready(self) -> bool:
        return self._listening is not None and not self._listening.done()

    def cached(self, key: str) -> tuple[bool, bytes | None]:
        """(True, value) from a live copy, else (False, None): read it with :meth:`read`."""
        copy = self.copies.get(key)
        if copy is not None and copy[1] > self._clock():
            self.counts["hits"] += 1
            return True, copy[0]
        return False, None

    def drop(self, key: str) -> None:
        """This process changed ``key``: its copy is stale now, before Redis's message comes."""
        self.copies.pop(key, None)

    async def read(self, key: str) -> tuple[bool, bytes | None]:
        """GET ``key`` through the tracked connection and keep a copy: (True, value); (False,
        None) when tracking is not available now (the caller reads through its pool).

        One read per key at a time, whoever asks (after a breaker changes, every request misses
        at once), and never cancelled with a caller that gives up: a reply left unread would
        answer the next command on the connection."""
        if not self.ready and not await self._start():
            return False, None
        pending = self._reads.get(key)
        if pending is None:
            pending = self._reads[key] = asyncio.ensure_future(self._read(key))
            pending.add_done_callback(lambda done: self._reads.pop(key, None) if self._reads.get(key) is done
                                      else None)
        return await asyncio.shield(pending)

    async def _read(self, key: str) -> tuple[bool, bytes | None]:
        assert self._read_lock is not None
        async with self._read_lock:  # one connection: its replies come back in order
            reader, epoch = self._reader, self.epoch
            if reader is None:
                return False, None
            try:
                await reader.send_command("GET", key)
                await reader.send_command("PTTL", key)
                value = await reader.read_response()
                ttl_ms = await reader.read_response()
            except BaseException as exc:  # any failure (or close): no copies, reads go to the pool
                self._lost(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return False, None
        if epoch == self.epoch and self.ready:  # no invalidation crossed the reply
            if len(self.copies) >= MAX_COPIES:
                self.copies.clear()
            # a key's expiry reaches the subscriber only when Redis gets round to it: the copy
            # ends with the key's time to live (PTTL: -1 none, -2 no key)
            age_s = min(MAX_AGE_S, ttl_ms / 1000) if isinstance(ttl_ms, int) and ttl_ms >= 0 else MAX_AGE_S
            self.copies[key] = (value, self._clock() + age_s)
            self.counts["fills"] += 1
        return True, value

    async def _start(self) -> bool:
        if self._clock() < self._next_try:
            return False
        self._next_try = self._clock() + RECONNECT_S
        if self._read_lock is None:
            self._read_lock = asyncio.Lock()
        subscriber = self._connection_class(**self._connection_kwargs)
        reader = self._connection_class(**self._connection_kwargs)
        try:
            await subscriber.connect()
            await subscriber.send_command("CLIENT", "ID")
            subscriber_id = await subscriber.read_response()
            await subscriber.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            await subscriber.read_response()
            await reader.connect()
            await reader.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", subscriber_id)
            await reader.read_response()
        except Exception as exc:  # noqa: BLE001 - Redis down, or no CLIENT TRACKING (Redis < 6)
            log.log(logging.DEBUG if self.counts["failed_starts"] else logging.WARNING,
                    "Redis copies unavailable, reading every time (retried every %s s): %s: %s",
                    RECONNECT_S, type(exc).__name__, exc)
            self.counts["failed_starts"] += 1
            await _disconnect(subscriber, reader)
            return False
        self._subscriber, self._reader = subscriber, reader
        self._listening = asyncio.create_task(self._listen(subscriber), name="corral redis invalidations")
        return True

    async def _listen(self, subscriber: Any) -> None:
        try:
            while True:
                message = await subscriber.read_response()
                if not (isinstance(message, list) and message and message[0] == b"message"):
                    continue
                self.epoch += 1
                self.counts["invalidations"] += 1
                keys = message[2]
                if keys is None:  # FLUSHDB / FLUSHALL: everything
                    self.copies.clear()
                    continue
                for key in keys:
                    self.copies.pop(key.decode() if isinstance(key, bytes) else str(key), None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a lost subscriber: nothing can be kept current
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        log.info("Redis copies dropped (%s: %s); reading every time until reconnected",
                 type(exc).__name__, exc)
        self.counts["losses"] += 1
        self.epoch += 1
        self.copies.clear()
        reader, subscriber, listening = self._reader, self._subscriber, self._listening
        self._reader = self._subscriber = self._listening = None
        if listening is not None and listening is not asyncio.current_task():
            listening.cancel()
        closing = asyncio.get_running_loop().create_task(_disconnect(subscriber, reader))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        await _disconnect(self._subscriber, self._reader)
        self._reader = self._subscriber = None
        self.copies.clear()


async def _disconnect(*connections: Any) -> None:
    for connection in connections:
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
