"""One HTTP/1.1 response read from a pooled connection, whole or as lines arrive."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from corral import __version__
from corral.providers.transport.errors import (
    ClientPayloadError,
    InvalidURL,
    SocketTimeoutError,
)

KEEPALIVE_S = 60.0  # an idle pooled connection older than this is closed, not reused
DNS_TTL_S = 300.0
HIGH_WATER = 256 * 1024  # stop reading a streamed body while this much is unconsumed
USER_AGENT = f"corral/{__version__}".encode()

Key = tuple[str, str, int]  # (scheme, host, port)


@lru_cache(maxsize=512)
def _split(url: str) -> tuple[Key, bytes, bytes]:
    """url -> ((scheme, host, port), Host header value, request target)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{url!r}: {exc}") from None
    if scheme not in ("http", "https") or not host:
        raise InvalidURL(f"{url!r}: only absolute http:// and https:// URLs are supported")
    default = 443 if scheme == "https" else 80
    port = port or default
    host_header = f"[{host}]" if ":" in host else host
    if port != default:
        host_header += f":{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        return (scheme, host, port), host_header.encode("idna"), target.encode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(f"{url!r}: {exc}") from None


def _timed_out(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(SocketTimeoutError("Timeout on reading data from socket"))


class Wire(Protocol):
    """What a response needs of the connection it is read from (`connection.Connection`).

    A protocol rather than an import: the connection creates responses, so importing it
    here would make the two modules a cycle.
    """

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def abort(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Response:
    """One HTTP response, with the aiohttp-like surface the adapters use.

    `status` and `headers` (a plain dict, names as the server sent them); `await read()`
    for the whole body; `async for line in content` for lines as they arrive.
    """

    __slots__ = ("_buf", "_conn", "_decoder", "_done", "_exc", "_paused", "_read_timeout",
                 "_waiter", "_whole", "content", "headers", "keep_alive", "status")

    def __init__(self, conn: Wire, read_timeout: float | None):
        self._conn = conn
        self._read_timeout = read_timeout
        self._buf = bytearray()
        self._done = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._paused = False
        self._whole = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.content = self

    # fed by the connection

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self._fail(ClientPayloadError(f"Can not decode content-encoding: {exc}"))
                self._conn.abort()
                return
        self._buf += data
        if not self._whole and not self._paused and len(self._buf) > HIGH_WATER:
            self._paused = True
            self._conn.pause_reading()
        self._wake()

    def _finish(self) -> None:
        if self._decoder is not None:
            try:
                self._buf += self._decoder.flush()
            except zlib.error as exc:
                self._fail(ClientPayloadError(f"Can not decode content-encoding: {exc}"))
                return
        self._done = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._done and self._exc is None:
            self._exc = exc
            self._wake()

    # read by the caller

    @property
    def complete(self) -> bool:
        return self._done and self._exc is None

    async def _wait(self) -> None:
        if self._paused:
            self._paused = False
            self._conn.resume_reading()
        fut = self._conn.loop.create_future()
        self._waiter = fut
        timeout = self._read_timeout
        timer = self._conn.loop.call_later(timeout, _timed_out, fut) if timeout else None
        try:
            await fut
        except SocketTimeoutError:
            self._conn.abort()  # a late answer must not be read as the next request's
            raise
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def read(self) -> bytes:
        """The rest of the body, once it has all arrived."""
        self._whole = True
        while not self._done:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        """Lines ending in b"\\n" as they arrive; the last one may lack it."""
        buf = self._buf
        while True:
            start = 0
            while (end := buf.find(b"\n", start)) >= 0:
                line = bytes(buf[start:end + 1])
                start = end + 1
                yield line
            if start:
                del buf[:start]
            if self._done:
                if buf:
                    line = bytes(buf)
                    buf.clear()
                    yield line
                return
            if self._exc is not None:
                raise self._exc
            await self._wait()
