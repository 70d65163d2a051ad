"""`POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's Messages API inbound.

HTTP only: authenticate (`x-api-key` or a bearer key), read, parse into the canonical request
(corral/api/messages_wire.py), run the same lifecycle as a chat completion, and write the
answer, its stream events and its errors in Anthropic's shapes (corral/api/messages_render.py),
with Anthropic's `request-id` header beside Corral's `x-request-id`. An Anthropic-SDK client
reaches every route; an OpenAI route answers it as Claude would. See docs/anthropic.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from corral.api.auth import key_from_values, verify_key
from corral.api.messages_render import EventEncoder, error_event, error_wire, message_wire
from corral.api.messages_wire import parse_messages_request
from corral.api.unexpected import log_unexpected
from corral.api.watch import (
    JSON_TYPE,
    SSE_RAW,
    ClientGone,
    DisconnectWatch,
    client_left,
    receive_body,
    stream_events,
)
from corral.cache.serve import client_directive
from corral.core.context import Caller, RequestContext
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.tokens import count_request, encoding_ready
from corral.core.types import Usage
from corral.observe.tracecontext import trace_headers

log = logging.getLogger("corral.api")

PATH = "/v1/messages"
COUNT_PATH = "/v1/messages/count_tokens"


class _Exchange:
    """One request's edge state: its ids, headers and how to answer it with an Anthropic error."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self.gateway = scope["app"].state.gateway
        self.request_id: str = scope["state"]["request_id"]
        self.client_id: str | None = scope["state"].get("client_request_id")
        self.headers = Headers(scope=scope)
        self.send = send
        self.id_header = (b"request-id", self.request_id.encode())

    async def caller(self) -> Caller:
        h = self.headers
        return await verify_key(self.gateway, key_from_values(
            h.get("authorization"), h.get("x-api-key"), h.get("api-key")), "inference")

    async def body(self, receive: Receive) -> bytes:
        return await receive_body(receive, self.headers.get("content-length"),
                                  self.gateway.settings.server.max_body_bytes)

    async def json(self, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
        data = orjson.dumps(payload)
        headers = [*extra, self.id_header, (b"content-length", str(len(data)).encode()), JSON_TYPE]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        await self.send({"type": "http.response.body", "body": data})

    async def error(self, exc: BaseException, what: str) -> None:
        if not isinstance(exc, CorralError):
            log_unexpected(exc, what, self.request_id)
            exc = CorralError("Corral hit an internal error; the request id in request-id locates it "
                              "in the logs.")
        data = orjson.dumps(error_wire(exc, self.request_id))
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers().items()]
        headers += (self.id_header, (b"content-length", str(len(data)).encode()), JSON_TYPE)
        await self.send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
        await self.send({"type": "http.response.body", "body": data})


class CreateMessage:
    """`POST /v1/messages`: one answer, or its stream of Anthropic events."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.perf_counter()  # latency and time to first token count from here
        edge = _Exchange(scope, send)
        result: Any = None
        watch: DisconnectWatch | None = None
        try:
            caller = await edge.caller()
            request = parse_messages_request(await edge.body(receive))
            ctx = RequestContext(request_id=edge.request_id, request=request, caller=caller, started=arrived,
                                 client_request_id=edge.client_id)
            ctx.trace_parent, ctx.trace_state = trace_headers(edge.headers.raw)  # checked when recorded
            cache_control = edge.headers.get("cache-control")
            corral_cache = edge.headers.get("x-corral-cache")
            if cache_control is not None or corral_cache is not None:
                ctx.cache_directive = client_directive(cache_control, corral_cache)
            watch = DisconnectWatch(receive, ctx)  # from here on, a vanished client cancels the work
            result = await edge.gateway.handle(ctx)  # recorded by the lifecycle (a stream: when over)
        except ClientGone:
            return
        except asyncio.CancelledError:
            if not await client_left(watch, result):
                raise
            return
        except Exception as exc:  # noqa: BLE001 - every error leaves in Anthropic's shape
            if watch is not None:
                watch.stop()
            if isinstance(result, ChatStream):
                await result.aclose()
            await edge.error(exc, f"POST {PATH}")
            return
        message_id = "msg_" + edge.request_id.removeprefix("req_")
        model = ctx.public_model or request.model
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ctx.response_headers.items()]
        headers.append((b"x-corral-model", (ctx.served_model or model).encode("latin-1")))
        if not isinstance(result, ChatStream):
            watch.stop()
            await edge.json(message_wire(result, message_id, model), headers)
            return
        headers = [*SSE_RAW, *headers, edge.id_header]
        events = _events(result, EventEncoder(message_id, model), edge.request_id)
        await stream_events(send, watch, result, events, headers, ctx)


async def _events(stream: ChatStream, encoder: EventEncoder, request_id: str) -> AsyncGenerator[bytes]:
    """The stream as Anthropic events; a failure after the first byte becomes an `error` event."""
    usage: Usage | None = None
    chunks = aiter(stream)
    try:
        yield encoder.start()
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
            if data := encoder.chunk(chunk):
                yield data
        yield encoder.finish(usage)
    except CorralError as exc:
        log.warning("stream failed after it started: %s", exc.message)
        yield error_event(exc, request_id)
    except Exception as exc:  # noqa: BLE001 - logged, sent as an error event
        log_unexpected(exc, f"POST {PATH} (stream)", request_id)
        yield error_event(CorralError("Corral hit an internal error while streaming."), request_id)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # at once, not when collected


class CountTokens:
    """`POST /v1/messages/count_tokens`: the prompt's size, counted offline.

    Exact for OpenAI models' tokenizers, an estimate (o200k) for the others, Claude included:
    what the context stage and limits use, so a client sizing its prompt sees Corral's view.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        edge = _Exchange(scope, send)
        try:
            await edge.caller()
            request = parse_messages_request(await edge.body(receive), counting=True)
            route = edge.gateway.routes.lookup(request.model)
            request.model = route.deployments[0].model if route.deployments else request.model
            if encoding_ready(request.model):
                tokens = count_request(request)
            else:  # building an encoding takes about a second, once: not on the event loop
                tokens = await asyncio.to_thread(count_request, request)
        except ClientGone:
            return
        except Exception as exc:  # noqa: BLE001 - every error leaves in Anthropic's shape
            await edge.error(exc, f"POST {COUNT_PATH}")
            return
        await edge.json({"input_tokens": tokens})


ROUTES = [
    Route(PATH, CreateMessage(), methods=["POST"]),
    Route(COUNT_PATH, CountTokens(), methods=["POST"]),
]
