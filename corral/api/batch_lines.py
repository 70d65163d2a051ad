"""One batch line served as its endpoint would serve it, through `Gateway.handle`.

A batch item is an ordinary request: parsed by the endpoint's own parser, run through the
lifecycle (privacy, routing with failover, context, usage, a record with cost attributed
to its batch) as the caller that created the batch, and answered with the body the endpoint
would have sent, or with the endpoint's error body and status.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from corral.api.models import embedding_wire, parse_embedding_request
from corral.api.render import completion_wire, error_body
from corral.api.wire import parse_chat_request
from corral.batches.runner import LineOutcome, LineRequest
from corral.core.context import Caller, RequestContext
from corral.core.errors import CorralError, InvalidRequest
from corral.core.types import ChatResponse, EmbeddingResponse

CHAT, EMBEDDINGS = "/v1/chat/completions", "/v1/embeddings"
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def _context(line: LineRequest) -> tuple[RequestContext, str]:
    who, endpoint, request_id = line.who, line.endpoint, line.request_id
    caller = Caller(who.key_id, who.key_name, who.team, frozenset(who.scopes))
    fmt = "float"
    if endpoint == CHAT:
        request = parse_chat_request(orjson.dumps(line.body))
        if request.stream:
            raise InvalidRequest("'stream' is not supported in a batch: each answer is written to the "
                                 "batch's output file. Remove 'stream' from the line.", param="stream")
        ctx = RequestContext(request_id=request_id, request=request, caller=caller)
    elif endpoint == EMBEDDINGS:
        embed, fmt = parse_embedding_request(line.body)
        ctx = RequestContext(request_id=request_id, request=embed, caller=caller, operation="embeddings")
    else:
        raise InvalidRequest(f"Corral does not run {endpoint} lines in batches yet; batch "
                             f"{CHAT} or {EMBEDDINGS} requests.", param="url")
    ctx.client_request_id = line.custom_id
    ctx.job_id = line.batch_id  # the record says which batch it ran for
    return ctx, fmt


def line_server(gateway: Any) -> Any:
    """The `LineServer` the batch runner calls for each item."""

    async def serve(line: LineRequest) -> LineOutcome:
        request_id = line.request_id
        try:
            ctx, fmt = _context(line)
            result = await gateway.handle(ctx)
        except CorralError as exc:
            after = exc.headers().get("Retry-After")
            return LineOutcome(exc.status_code, request_id, error_body(exc),
                               retryable=exc.status_code in RETRYABLE_STATUS,
                               retry_after_s=float(after) if after and after.isdigit() else None)
        model = ctx.public_model or ctx.original.model
        if isinstance(result, EmbeddingResponse):
            return LineOutcome(200, request_id, embedding_wire(result, model, fmt))
        assert isinstance(result, ChatResponse)  # not streamed: checked when parsed
        response_id = "chatcmpl-" + request_id.removeprefix("req_")
        return LineOutcome(200, request_id, completion_wire(result, response_id, model, int(time.time())))

    return serve
