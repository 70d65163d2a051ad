"""The HTTP/1.1 edge: uvicorn's httptools protocol with header and body deadlines and a header cap.

Why a subclass: uvicorn (0.54) times out idle keep-alive connections but gives a request
no deadline for its headers or its body, and with httptools it has no cap on header size
(httptools buffers a header line whole before handing it over). Measured before this
module: 150 sockets holding half-sent headers were kept 90 s and more, 100 half-sent
bodies 60 s, and one 16 MiB header was accepted at a cost of 40 MiB of RSS.

What it adds, all from ``server`` settings:

- ``header_timeout_s``: a connection that opens, or starts a request, must finish the
  request's headers within this time (408, or a plain close if it sent nothing);
- ``max_header_bytes``: bytes received before the end of the headers (request line plus
  headers) are capped; past it the answer is 431 and the connection closes, so at most
  the cap plus one read (256 KiB) is ever buffered;
- ``body_timeout_s``: once the headers are in, the whole body must arrive within this time
  (408 if no response has started, else the connection closes).

Cost: a request that arrives in one read arms no timer (the connection's first header
timer is armed once, when it opens); the rest is a few attribute checks per read.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from corral.config import ServerSettings

log = logging.getLogger("corral.api.server")


@dataclass(frozen=True)
class EdgeLimits:
    """The deadlines and the header cap one server applies to every connection."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 64 * 1024

    @classmethod
    def from_settings(cls, server: ServerSettings) -> EdgeLimits:
        return cls(server.header_timeout_s, server.body_timeout_s, server.max_header_bytes)


def _error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP response with the OpenAI error body, closing the connection."""
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error",
                                   "param": None, "code": code}})
    head = (b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body))
    return STATUS_LINE[status] + head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits in :class:`EdgeLimits` (see the module)."""

    limits: ClassVar[EdgeLimits] = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True  # between requests, or inside a request's headers
        self._body_pending = False  # headers complete, body not yet
        self._header_bytes = 0
        self._completed_in_read = False  # a message ended inside the current read
        self._header_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None

    @property
    def _cycle(self) -> RequestResponseCycle | None:
        """``self.cycle``, which uvicorn declares non-optional but leaves None until a request starts."""
        return self.cycle

    # Connection events

    # uvicorn narrows asyncio's BaseTransport to Transport here too (with the same ignore).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if (self._awaiting_headers and self._header_bytes + len(data) > self.limits.max_header_bytes
                and self._headers_overflow(data)):
            self._refuse_headers()
            return
        self._completed_in_read = False
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._completed_in_read:
            # This read ended a message (often the rest of a body answered early): its bytes
            # are that message's, not the next request's headers. The next request's bytes in
            # the same read go uncounted, so the cap may be passed by at most one read.
            self._header_bytes = 0
        elif self._awaiting_headers:
            self._header_bytes += len(data)
        if self._awaiting_headers and self._header_timer is None:  # inside headers: the deadline runs
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)
        if self._body_pending and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_late)

    def _headers_overflow(self, data: bytes) -> bool:
        """Whether the headers, `data` included, pass the cap (checked only on big reads)."""
        end = data.find(b"\r\n\r\n")
        if end < 0 and data.startswith((b"\n", b"\r\n")):
            end = 0  # the blank line began in the previous read
        seen = len(data) if end < 0 else end + 4
        return self._header_bytes + seen > self.limits.max_header_bytes

    # Parser events (called from inside data_received)

    def on_message_begin(self) -> None:
        self._awaiting_headers = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._awaiting_headers, self._body_pending, self._header_bytes = False, True, 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        cycle = self._cycle
        if cycle is not None and cycle.scope["method"] != "HEAD":  # HEAD: uvicorn writes no body
            cycle.transport = cast(asyncio.Transport, OneWriteAnswers(cycle.transport))

    def on_message_complete(self) -> None:
        self._body_pending = False
        self._completed_in_read = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        cycle = self._cycle
        if cycle is not None and cycle.response_complete:
            self._awaiting_headers = True  # answered early; the body drained after the answer
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self._body_pending and not self.pipeline:
            self._awaiting_headers = True  # the next bytes start a new request: its deadline applies
        super().on_response_complete()

    # Enforcement

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.debug("closing %s: request headers not complete in time", self.client)
            message = (f"The request headers did not arrive within {self.limits.header_timeout_s:g} s "
                       "(server.header_timeout_s).")
            self._close(_error_response(408, "request_timeout", message) if self._header_bytes else None)

    def _body_late(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            log.debug("closing %s: request body not complete in time", self.client)
            message = (f"The request body did not arrive within {self.limits.body_timeout_s:g} s "
                       "(server.body_timeout_s).")
            self._close(_error_response(408, "request_timeout", message), current=True)

    def _refuse_headers(self) -> None:
        message = (f"The request line and headers exceed {self.limits.max_header_bytes} bytes "
                   "(server.max_header_bytes).")
        self._close(_error_response(431, "request_header_fields_too_large", message))

    def _close(self, response: bytes | None, *, current: bool = False) -> None:
        """Close, answering first when nothing else is being written on the connection.

        ``current``: the answer is for the request in ``self.cycle`` (its body is late), so
        it may go out while that request has not started its response; otherwise it is for
        a request with no cycle yet, and only goes out when the previous one is finished.
        """
        if self.transport.get_protocol() is not self:
            return  # upgraded (WebSocket): the connection is no longer ours to limit
        cycle = self._cycle
        if cycle is None or cycle.response_complete:
            can_answer = not current
        else:
            can_answer = current and not cycle.response_started
        if response is not None and can_answer:
            self.transport.write(response)
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app sees http.disconnect; its answer goes nowhere
                cycle.message_event.set()
        self.transport.close()


class OneWriteAnswers:
    """The connection's transport as one request's cycle sees it: a status line and headers
    with a Content-Length wait for the body, so a whole answer leaves in one write (one
    system call, not two: ~5% of the gateway's CPU per request, measured with py-spy).
    Streamed answers (chunked) get their headers at once, as before."""

    __slots__ = ("_fresh", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._fresh = True  # the cycle's first write is its status line and headers

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif self._fresh and isinstance(data, bytes) and b"\r\ncontent-length: " in data:
            self._held = data
        else:
            self._transport.write(data)
        self._fresh = False

    def close(self) -> None:
        if self._held is not None:  # headers without a body (the app failed): as uvicorn would send
            self._transport.write(self._held)
            self._held = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(limits: EdgeLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to ``limits``, for ``uvicorn.run(..., http=...)``."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """The uvicorn keyword arguments that carry ``server`` settings (``corral serve`` and tests).

    uvicorn with httptools and uvloop: of the servers measured with
    bench/gateway_overhead.py it costs the least CPU per request (granian's ASGI, with its
    Rust I/O thread, cost more). Without uvicorn's proxy-headers middleware: nothing in
    Corral reads the client's address or scheme, and it was a layer on every request.
    """
    return {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop",
        "http": protocol_class(EdgeLimits.from_settings(server)),
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "proxy_headers": False,
    }
