"""A keep-alive HTTP/1.1 connection as an asyncio protocol, parsed by httptools."""

from __future__ import annotations

import asyncio
import zlib
from typing import Protocol

import httptools

from corral.providers.transport.errors import (
    ClientPayloadError,
    ResponseError,
    ServerDisconnectedError,
    SocketTimeoutError,
)
from corral.providers.transport.response import (
    Key,
    Response,
    _timed_out,
)


class Owner(Protocol):
    """What a connection needs of the pool that opened it (`pool.Pool`).

    A protocol rather than an import: the pool creates connections, so importing it here
    would make the two modules a cycle.
    """

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def _lost(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, parsed by httptools."""

    def __init__(self, pool: Owner, key: Key):
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.lost = False
        self.received = 0  # bytes of answer received for the current request
        self.uses = 0
        self.idle_since = 0.0
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers_waiter: asyncio.Future[None] | None = None
        self._until_eof = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.response
        if resp is None or resp._done:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if resp.status:
                self._error(ClientPayloadError(f"Malformed response body: {exc}"))
            else:
                self._error(ResponseError(f"Invalid HTTP response: {exc}"))
            self.abort()

    def eof_received(self) -> bool:
        return False  # close; connection_lost settles the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        resp = self.response
        if resp is not None and not resp._done:
            if resp.status and self._until_eof and exc is None:
                resp._finish()  # a body delimited by the server closing the connection
            elif resp.status:
                reason = f": {exc}" if exc else ""
                resp._fail(ClientPayloadError(f"Response payload is not completed{reason}"))
            else:
                self._error(ServerDisconnectedError(
                    f"Server disconnected: {exc}" if exc else "Server disconnected"))
        self.pool._lost(self)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.response
        assert resp is not None
        if resp._done:  # a second answer to one request: the connection cannot be trusted
            self._raw_headers = []
            self.abort()
            return
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._raw_headers = []
            return
        headers: dict[str, str] = {}
        framed = False
        encoding = ""
        for raw_name, raw_value in self._raw_headers:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            if name not in headers:
                headers[name] = value
            lowered = name.lower()
            if lowered in ("content-length", "transfer-encoding"):
                framed = True
            elif lowered == "content-encoding":
                encoding = value.strip().lower()
        self._raw_headers = []
        resp.status = status
        resp.headers = headers
        resp.keep_alive = self.parser.should_keep_alive()
        self._until_eof = not framed and status not in (204, 304)
        if encoding in ("gzip", "x-gzip"):
            resp._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            resp._decoder = zlib.decompressobj()
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        resp = self.response
        if resp is not None:
            resp._feed(body)

    def on_message_complete(self) -> None:
        resp = self.response
        if resp is not None and resp.status:
            resp._finish()

    # one exchange

    def _error(self, exc: BaseException) -> None:
        if self.response is not None:
            self.response._fail(exc)
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def send(self, data: tuple[bytes, ...], read_timeout: float | None) -> Response:
        """Write one request and wait for the answer's headers."""
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ServerDisconnectedError()  # closed between acquire and send: resent if pooled
        resp = Response(self, read_timeout)
        self.response = resp
        self.received = 0
        self.uses += 1
        self._until_eof = False
        self.transport.writelines(data)
        fut = self.loop.create_future()
        self._headers_waiter = fut
        timer = self.loop.call_later(read_timeout, _timed_out, fut) if read_timeout else None
        try:
            await fut
        except SocketTimeoutError:
            self.abort()
            raise
        finally:
            self._headers_waiter = None
            if timer is not None:
                timer.cancel()
        return resp

    def reusable(self) -> bool:
        resp = self.response
        return (resp is not None and resp.complete and resp.keep_alive and not self.lost
                and self.transport is not None and not self.transport.is_closing())
