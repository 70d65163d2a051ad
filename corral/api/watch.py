"""Plain-ASGI request and answer plumbing shared by the endpoints that serve model answers.

The chat hot path and `/v1/responses` both read a bounded body from `receive`, run the
lifecycle under a watch that cancels the work when the client disconnects (so the upstream
call stops and the record says why), and write either an error body or a stream of events
with `send`. One copy of each, here, so both endpoints behave alike on a vanished client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Protocol

import orjson
from starlette.types import Receive, Send

from corral.api.auth import check_declared_length, too_large
from corral.api.render import error_body
from corral.core.context import RequestContext
from corral.core.drain import cut_here, open_stream
from corral.core.errors import CorralError
from corral.core.stream import ChatStream

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
SSE_RAW = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
           (b"content-type", b"text/event-stream; charset=utf-8")]
JSON_TYPE = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class DisconnectWatch:
    """Cancels the handler task when the client disconnects, so the upstream call stops too.

    Watching costs a task per request (created, then cancelled and woken on the loop), so it
    starts only once the request has run for `DELAY_S`: a client
    that leaves a fast request loses nothing worth cancelling, and an LLM call that runs
    for seconds is watched for all but its first moments. A stream is watched from its
    first byte (`now()`). Once the body is read, the only message `receive` can deliver is
    `http.disconnect`.
    """

    DELAY_S = 0.05
    __slots__ = ("_ctx", "_receive", "_siblings", "_task", "_timer", "_watcher", "finished", "gone")

    def __init__(self, receive: Receive, ctx: RequestContext,
                 siblings: tuple[RequestContext, ...] = ()) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._receive = receive
        self._ctx = ctx  # told before the work is cancelled, so the record says why
        self._siblings = siblings  # the other answers of an `n > 1` request (corral/api/choices.py)
        self.finished = False
        self.gone = False
        self._watcher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            self.DELAY_S, self.now)

    def now(self) -> None:
        """Start watching (at once, for a stream; from the timer, for a slow request)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is None and not self.finished:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self.finished:
                    self.gone = self._ctx.client_disconnected = True
                    for sibling in self._siblings:
                        sibling.client_disconnected = True
                    self._task.cancel()
                return

    def stop(self) -> None:
        """The answer is complete: a disconnect from now on is ordinary."""
        self.finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()

    def absorb(self) -> None:
        """Handle our own cancellation: the task goes on to record the request."""
        self.stop()
        self._task.uncancel()


async def client_left(watch: DisconnectWatch | None, result: object) -> bool:
    """After a CancelledError in a handler: True when the client's disconnect caused it (the work
    is recorded as abandoned, 499, and an open stream closed); False when the caller re-raises."""
    if watch is None or not watch.gone:
        if watch is not None:
            watch.stop()
        return False
    watch.absorb()
    if isinstance(result, ChatStream):
        await result.aclose()
    return True


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering it all first."""
    check_declared_length(declared, limit)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise too_large(limit)
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_error(send: Send, exc: CorralError, extra: list[tuple[bytes, bytes]]) -> None:
    payload = orjson.dumps(error_body(exc))
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers().items()]
    headers += ((b"content-length", str(len(payload)).encode()), JSON_TYPE, *extra)
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class Closable(Protocol):
    async def aclose(self) -> None: ...


async def stream_events(
    send: Send, watch: DisconnectWatch, stream: Closable, events: AsyncGenerator[bytes],
    headers: list[tuple[bytes, bytes]], ctx: RequestContext,
) -> None:
    """Write each event as it is produced; a client disconnect cancels and closes upstream.

    The request's disconnect watch cancels this task, so a stalled upstream is abandoned
    at once rather than at the next chunk. Closing the stream is what records it.
    """
    watch.now()  # a stream may stall at any point: watch it from the first byte
    with open_stream():  # a graceful stop's deadline ends it with an error event (corral.core.drain)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for event in events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            watch.finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if cut_here():  # cut while writing, not while waiting upstream: end the body, nothing more
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if not watch.gone:
                raise
            watch.absorb()
        except OSError:
            ctx.client_disconnected = True  # servers on ASGI spec 2.4 report a vanished client this way
        finally:
            watch.stop()
            await events.aclose()
            await stream.aclose()  # no-op once consumed; closes upstream if never started
