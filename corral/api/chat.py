"""`POST /v1/chat/completions`: parse, run the pipeline, format. No business logic.

This is the hot path, so it is a plain ASGI handler: it reads the headers it needs in
one pass over the raw list, reads the body from `receive` and writes with `send`,
skipping Starlette's Request/Response objects and middleware layers (about a fifth
of the gateway's CPU per request in bench/gateway_overhead.py). It keeps the edge's
behaviour: OpenAI-shaped errors, `x-request-id`, the body limit, and streams that are
written chunk by chunk and closed upstream as soon as the client goes away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from corral.api.auth import check_declared_length, key_from_values, too_large, verify_key
from corral.api.middleware import is_safe_request_id, new_request_id
from corral.api.render import DONE, ChunkEncoder, completion_wire, error_body, error_event
from corral.api.unexpected import log_unexpected
from corral.api.wire import parse_chat_request
from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import Usage

log = logging.getLogger("corral.api")

PATH = "/v1/chat/completions"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_SSE_RAW = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
            (b"content-type", b"text/event-stream; charset=utf-8")]
_JSON_TYPE = (b"content-type", b"application/json")


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class ChatEndpoint:
    """The route's ASGI app when Starlette routes the request (the x-request-id is its job)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        await handle_chat(scope["app"].state.gateway, scope, receive, send, state["request_id"],
                          state.get("client_request_id"))


async def handle_chat(
    gateway: Any, scope: Scope, receive: Receive, send: Send, request_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """Serve one chat completion. With `request_id` None, pick one and echo it in the answer.

    The id is always Corral's own; an id the client sent (x-client-request-id, else
    x-request-id) is kept as a correlation field and echoed as x-client-request-id.
    """
    arrived = time.perf_counter()  # latency and time to first token count from here
    authorization = x_api_key = api_key = declared = sent_id = sent_client_id = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"content-length":
            if declared is None:
                declared = value.decode("latin-1")
        elif name == b"x-request-id":
            if sent_id is None and is_safe_request_id(text := value.decode("latin-1")):
                sent_id = text
        elif name == b"x-client-request-id":
            if sent_client_id is None and is_safe_request_id(text := value.decode("latin-1")):
                sent_client_id = text
        elif name == b"x-api-key":
            if x_api_key is None:
                x_api_key = value.decode("latin-1")
        elif name == b"api-key" and api_key is None:
            api_key = value.decode("latin-1")
    extra: list[tuple[bytes, bytes]] = []
    if request_id is None:
        request_id = new_request_id()
        client_id = sent_client_id or sent_id
        extra.append((b"x-request-id", request_id.encode()))
        if client_id is not None:
            extra.append((b"x-client-request-id", client_id.encode()))
    result: Any = None
    ctx: RequestContext | None = None
    watch: _DisconnectWatch | None = None
    try:
        caller = await verify_key(gateway, key_from_values(authorization, x_api_key, api_key), "inference")
        body = await _read_body(receive, declared, gateway.settings.server.max_body_bytes)
        chat = parse_chat_request(body)
        ctx = RequestContext(request_id=request_id, request=chat, caller=caller, started=arrived,
                             client_request_id=client_id)
        watch = _DisconnectWatch(receive, ctx)  # from here on, a vanished client cancels the work
        result = await gateway.handle(ctx)  # the lifecycle records it (a stream: when it is over)
        response_id = "chatcmpl-" + request_id.removeprefix("req_")
        model = ctx.public_model or chat.model
        created = int(time.time())
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ctx.response_headers.items()]
        headers.append((b"x-corral-model", (ctx.served_model or model).encode("latin-1")))
        if isinstance(result, ChatStream):
            stream: ChatStream | None = result
            encoder = ChunkEncoder(response_id, model, created)
        else:
            stream = None
            payload = orjson.dumps(completion_wire(result, response_id, model, created))
    except _ClientGone:
        return
    except asyncio.CancelledError:
        if watch is None or not watch.gone:
            if watch is not None:
                watch.stop()
            raise
        watch.absorb()  # the lifecycle recorded it as abandoned (499)
        if isinstance(result, ChatStream):
            await result.aclose()
        return
    except Exception as exc:  # noqa: BLE001 - logged by log_unexpected, answered as a 500
        if watch is not None:
            watch.stop()
        if isinstance(result, ChatStream):
            await result.aclose()  # never leave an upstream stream open behind an error
        if not isinstance(exc, CorralError):
            log_unexpected(exc, f"POST {PATH}", request_id)
            exc = CorralError(
                "Corral hit an internal error; the request id in x-request-id locates it in the logs."
            )
        await _send_error(send, exc, extra)
        return
    if stream is None:
        watch.stop()
        headers += ((b"content-length", str(len(payload)).encode()), _JSON_TYPE, *extra)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return
    headers[:0] = _SSE_RAW[:2]
    headers += (_SSE_RAW[2], *extra)
    events = _sse(stream, encoder, chat.include_usage, request_id)
    await _stream(send, watch, stream, events, headers, ctx)


class _DisconnectWatch:
    """Cancels the handler task when the client disconnects, so the upstream call stops too.

    Watching costs a task per request (created, then cancelled and woken on the loop), so it
    starts only once the request has run for `DELAY_S`: a client
    that leaves a fast request loses nothing worth cancelling, and an LLM call that runs
    for seconds is watched for all but its first moments. A stream is watched from its
    first byte (`now()`). Once the body is read, the only message `receive` can deliver is
    `http.disconnect`.
    """

    DELAY_S = 0.05
    __slots__ = ("_ctx", "_receive", "_task", "_timer", "_watcher", "finished", "gone")

    def __init__(self, receive: Receive, ctx: RequestContext) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._receive = receive
        self._ctx = ctx  # told before the work is cancelled, so the record says why
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


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering it all first."""
    check_declared_length(declared, limit)
    message = await receive()
    if message["type"] != "http.request":
        raise _ClientGone
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
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_error(send: Send, exc: CorralError, extra: list[tuple[bytes, bytes]]) -> None:
    payload = orjson.dumps(error_body(exc))
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers().items()]
    headers += ((b"content-length", str(len(payload)).encode()), _JSON_TYPE, *extra)
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _stream(
    send: Send, watch: _DisconnectWatch, stream: ChatStream, events: AsyncGenerator[bytes],
    headers: list[tuple[bytes, bytes]], ctx: RequestContext,
) -> None:
    """Write each event as it is produced; a client disconnect cancels and closes upstream.

    The request's disconnect watch cancels this task, so a stalled upstream is abandoned
    at once rather than at the next chunk. Closing the stream is what records it.
    """
    watch.now()  # a stream may stall at any point: watch it from the first byte
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        watch.finished = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        watch.absorb()
    except OSError:
        ctx.client_disconnected = True  # servers on ASGI spec 2.4 report a vanished client this way
    finally:
        watch.stop()
        await events.aclose()
        await stream.aclose()  # no-op once consumed; closes upstream if never started


async def _sse(stream: ChatStream, encoder: ChunkEncoder, include_usage: bool,
               request_id: str) -> AsyncGenerator[bytes]:
    """Encode chunks as they arrive. A failure after the first byte becomes an error event
    (the lifecycle has recorded it as the stream's error by then)."""
    usage: Usage | None = None
    chunks = aiter(stream)
    try:
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
                if chunk.content is None and not chunk.tool_calls and chunk.finish_reason is None:
                    continue
            yield encoder.chunk(chunk)
        if include_usage and usage is not None:
            yield encoder.usage(usage)
        yield DONE
    except CorralError as exc:
        log.warning("stream failed after it started: %s", exc.message)
        yield error_event(exc)
    except Exception as exc:  # noqa: BLE001 - logged by log_unexpected, sent as an error event
        log_unexpected(exc, f"POST {PATH} (stream)", request_id)
        yield error_event(CorralError("Corral hit an internal error while streaming."))
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # at once, not when collected
