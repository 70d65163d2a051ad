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

from corral.api import choices
from corral.api.auth import key_from_values, verify_key
from corral.api.middleware import is_safe_request_id, new_request_id
from corral.api.render import DONE, ChunkEncoder, completion_wire, error_event, grounding_wire, usage_wire
from corral.api.unexpected import log_unexpected
from corral.api.watch import (
    JSON_TYPE,
    SSE_RAW,
    ClientGone,
    DisconnectWatch,
    client_left,
    receive_body,
    send_error,
    stream_events,
)
from corral.api.watch import SSE_HEADERS as SSE_HEADERS  # bench/serve_variant.py reads it here
from corral.api.wire import parse_chat_request, tags_of
from corral.cache.serve import client_directive
from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import Usage

log = logging.getLogger("corral.api")

PATH = "/v1/chat/completions"


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
    cache_control = cache_header = None  # the exact cache's client directives (corral.cache.serve)
    trace_parent = trace_state = None  # W3C trace context, as sent: checked when the record is built
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
        elif name == b"api-key":
            if api_key is None:
                api_key = value.decode("latin-1")
        elif name == b"cache-control":  # may come as several headers: their directives add up
            text = value.decode("latin-1")
            cache_control = text if cache_control is None else f"{cache_control},{text}"
        elif name == b"x-corral-cache":
            cache_header = value.decode("latin-1")
        elif name == b"traceparent":  # repeated: ambiguous, so "" (invalid: the request starts a trace)
            trace_parent = value.decode("latin-1") if trace_parent is None else ""
        elif name == b"tracestate":  # may come as several headers: one list
            text = value.decode("latin-1")
            trace_state = text if trace_state is None else f"{trace_state},{text}"
    extra: list[tuple[bytes, bytes]] = []
    if request_id is None:
        request_id = new_request_id()
        client_id = sent_client_id or sent_id
        extra.append((b"x-request-id", request_id.encode()))
        if client_id is not None:
            extra.append((b"x-client-request-id", client_id.encode()))
    result: Any = None
    ctx: RequestContext | None = None
    watch: DisconnectWatch | None = None
    try:
        caller = await verify_key(gateway, key_from_values(authorization, x_api_key, api_key), "inference")
        body = await receive_body(receive, declared, gateway.settings.server.max_body_bytes)
        chat = parse_chat_request(body)
        ctx = RequestContext(request_id=request_id, request=chat, caller=caller, started=arrived,
                             client_request_id=client_id, trace_parent=trace_parent, trace_state=trace_state)
        if cache_control is not None or cache_header is not None:
            ctx.cache_directive = client_directive(cache_control, cache_header)
        if chat.extra and "metadata" in chat.extra:
            ctx.tags = tags_of(chat.extra["metadata"])
        if chat.n == 1:
            watch = DisconnectWatch(receive, ctx)  # from here on, a vanished client cancels the work
            result = await gateway.handle(ctx)  # the lifecycle records it (a stream: when it is over)
        else:
            ctxs = choices.contexts(ctx)
            watch = DisconnectWatch(receive, ctx, tuple(ctxs[1:]))
            results = await choices.run_all(gateway, ctxs)
            result = choices.merged_stream(results, ctx.public_model) if chat.stream else results[0]
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
            answer = completion_wire(result, response_id, model, created)
            if chat.n > 1:
                answer = choices.merge_answers(
                    answer, [completion_wire(r, response_id, model, created) for r in results[1:]],
                    [r.usage for r in results], usage_wire)
            if (extension := grounding_wire(ctx.grounding)) is not None:
                answer["corral"] = extension  # a route's knowledge option: its sources and citations
            payload = orjson.dumps(answer)
    except ClientGone:
        return
    except asyncio.CancelledError:
        if not await client_left(watch, result):
            raise
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
        await send_error(send, exc, extra)
        return
    if stream is None:
        watch.stop()
        headers += ((b"content-length", str(len(payload)).encode()), JSON_TYPE, *extra)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return
    headers[:0] = SSE_RAW[:2]
    headers += (SSE_RAW[2], *extra)
    events = _sse(stream, encoder, chat.include_usage, request_id, ctx)
    await stream_events(send, watch, stream, events, headers, ctx)


async def _sse(stream: ChatStream, encoder: ChunkEncoder, include_usage: bool,
               request_id: str, ctx: RequestContext) -> AsyncGenerator[bytes]:
    """Encode chunks as they arrive. A failure after the first byte becomes an error event
    (the lifecycle has recorded it as the stream's error by then). A grounded answer's
    sources and citations go on the chunk that finishes it (the grounding stage has read
    the citations by then)."""
    usage: Usage | None = None
    chunks = aiter(stream)
    try:
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
                if chunk.content is None and not chunk.tool_calls and chunk.finish_reason is None:
                    continue
            if chunk.finish_reason is not None and ctx.grounding is not None:
                yield encoder.chunk(chunk, grounding_wire(ctx.grounding))
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
