"""`POST /v1/chat/completions`: parse, run the pipeline, format. No business logic."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from corral.api.auth import authenticate, read_body
from corral.api.render import DONE, ChunkEncoder, completion_wire, error_event
from corral.api.responses import json_response
from corral.api.wire import parse_chat_request
from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import Usage

log = logging.getLogger("corral.api")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def chat_completions(request: Request) -> Response:
    gateway = request.app.state.gateway
    caller = await authenticate(request, "inference")
    body = await read_body(request, gateway.settings.server.max_body_bytes)
    chat = parse_chat_request(body)
    request_id = request.scope["state"]["request_id"]
    ctx = RequestContext(request_id=request_id, request=chat, caller=caller)
    result = await gateway.pipeline(ctx)
    response_id = "chatcmpl-" + request_id.removeprefix("req_")
    model = ctx.public_model or chat.model
    created = int(time.time())
    headers = {**ctx.response_headers, "x-corral-model": ctx.served_model or model}
    if isinstance(result, ChatStream):
        encoder = ChunkEncoder(response_id, model, created)
        return StreamingResponse(
            _sse(result, encoder, chat.include_usage),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    return json_response(completion_wire(result, response_id, model, created), headers=headers)


async def _sse(stream: ChatStream, encoder: ChunkEncoder, include_usage: bool) -> AsyncIterator[bytes]:
    """Encode chunks as they arrive. A failure after the first byte becomes an error event."""
    usage: Usage | None = None
    try:
        async for chunk in stream:
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
    except Exception:
        log.exception("unexpected error inside a stream")
        yield error_event(CorralError("Corral hit an internal error while streaming."))
