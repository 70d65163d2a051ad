"""A pool of keep-alive connections per provider, with a limit, DNS cache and timeouts."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import deque
from functools import lru_cache
from typing import Any

from corral.providers.base import CONNECT_TIMEOUT
from corral.providers.transport.connection import (
    Connection,
)
from corral.providers.transport.errors import (
    ClientConnectorError,
    ConnectionTimeoutError,
    InvalidHeader,
    TransportError,
)
from corral.providers.transport.response import (
    DNS_TTL_S,
    KEEPALIVE_S,
    USER_AGENT,
    Key,
)


class Pool:
    """The keep-alive connections of one HttpClient, at most `limit` open at once.

    `closed` is True after `aclose`; a closed pool is replaced by a new one on next use.
    """

    def __init__(self, limit: int, connect_timeout: float | None, ssl_context: ssl.SSLContext | None = None):
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[Key, list[Connection]] = {}
        self._all: set[Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._dns: dict[tuple[str, int], tuple[float, list[Any]]] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def size(self) -> int:
        """Open connections, busy and idle."""
        return len(self._all)

    @property
    def idle(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def _take_idle(self, key: Key) -> Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if (not conn.lost and conn.transport is not None and not conn.transport.is_closing()
                    and now - conn.idle_since < KEEPALIVE_S):
                return conn
            self._close(conn)
        return None

    async def acquire(self, key: Key, *, fresh: bool = False) -> Connection:
        if self.closed:
            raise RuntimeError("this HTTP client is closed")
        if not fresh and (conn := self._take_idle(key)) is not None:
            return conn
        timeout = self.connect_timeout
        override = CONNECT_TIMEOUT.get()
        if override is not None and (timeout is None or override < timeout):
            timeout = override
        try:
            async with asyncio.timeout(timeout):
                while len(self._all) >= self.limit:
                    if not fresh and (conn := self._take_idle(key)) is not None:
                        return conn
                    if self._evict_idle(key):
                        continue
                    fut = self.loop.create_future()
                    self._waiters.append(fut)
                    try:
                        await fut
                    finally:
                        if not fut.done():
                            fut.cancel()
                    if self.closed:
                        raise RuntimeError("this HTTP client is closed")
                return await self._connect(key)
        except TimeoutError as exc:
            if isinstance(exc, TransportError):
                raise
            raise ConnectionTimeoutError(
                f"Connection timeout to {key[1]}:{key[2]} (no connection within "
                f"{timeout:g} s)") from None

    def _evict_idle(self, key: Key) -> bool:
        """At the limit, close an idle connection to another host to make room."""
        for other, idle in self._idle.items():
            if other != key and idle:
                self._close(idle.pop(0))
                return True
        return False

    async def _resolve(self, host: str, port: int) -> list[Any]:
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        self._dns[(host, port)] = (now + DNS_TTL_S, infos)
        return infos

    async def _connect(self, key: Key) -> Connection:
        scheme, host, port = key
        conn = Connection(self, key)
        self._all.add(conn)
        ctx = (self.ssl_context or _default_ssl_context()) if scheme == "https" else None
        try:
            try:
                infos = await self._resolve(host, port)
            except OSError as exc:
                raise ClientConnectorError(exc) from exc
            last: OSError | None = None
            for family, _, proto, _, address in infos:
                try:
                    await self.loop.create_connection(
                        lambda: conn, host=address[0], port=address[1], family=family,
                        proto=proto, ssl=ctx, server_hostname=host if ctx else None)
                    return conn
                except OSError as exc:  # ssl.SSLError included
                    last = exc
            raise ClientConnectorError(last or OSError(f"no address for {host}"))
        except BaseException:
            self._forget(conn)
            raise

    def release(self, conn: Connection) -> None:
        """Take a connection back after its exchange: pooled if reusable, else closed."""
        if not self.closed and conn.reusable():
            conn.response = None
            conn.idle_since = now = time.monotonic()
            idle = self._idle.setdefault(conn.key, [])
            if idle and now - idle[0].idle_since >= KEEPALIVE_S:
                self._close(idle.pop(0))
            idle.append(conn)
            self._wake()
        else:
            self._close(conn)

    def _close(self, conn: Connection) -> None:
        if conn.transport is not None and not conn.lost:
            conn.transport.close()
        self._forget(conn)

    def _forget(self, conn: Connection) -> None:
        if conn in self._all:
            self._all.discard(conn)
            self._wake()

    def _lost(self, conn: Connection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        self._forget(conn)

    def _wake(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def aclose(self) -> None:
        self.closed = True
        for conn in list(self._all):
            if conn.transport is not None and not conn.lost:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()
        while self._waiters:
            self._waiters.popleft().cancel()
        await asyncio.sleep(0)  # let the transports finish closing


@lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


_FORBIDDEN = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _request_head(method: str, host: bytes, target: bytes, headers: dict[str, str],
                  body: bytes | None) -> bytes:
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
    agent = accept = False
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise InvalidHeader(f"invalid character in request header {name!r}")
        lowered = name.lower()
        if lowered in _FORBIDDEN:
            continue
        agent = agent or lowered == "user-agent"
        accept = accept or lowered == "accept"
        parts += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
    if not agent:
        parts += (b"User-Agent: ", USER_AGENT, b"\r\n")
    if not accept:
        parts.append(b"Accept: */*\r\n")
    if body is not None:
        parts += (b"Content-Length: ", str(len(body)).encode(), b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
