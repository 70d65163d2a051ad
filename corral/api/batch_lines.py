"""One batch line served as its endpoint would serve it, through `Gateway.handle`.

A batch item is an ordinary request: parsed by the endpoint's own parser, run through the
lifecycle (privacy, routing with failover, context, usage, a record with cost attributed
to its batch) as the caller that created the batch, and answered with the body the endpoint
would have sent, or with the endpoint's error body and status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

import orjson

from corral.api.models import embedding_wire, parse_embedding_request
from corral.api.render import completion_wire, error_body
from corral.api.wire import parse_chat_request
from corral.batches.runner import LineOutcome, LineRequest
from corral.batches.types import Submitter
from corral.core.context import Caller, RequestContext
from corral.core.errors import CorralError, InvalidRequest
from corral.core.types import ChatResponse, EmbeddingResponse
from corral.responses import service
from corral.responses.errors import ResponseNotFound
from corral.responses.ids import response_id_for
from corral.responses.store import ResponseStore

CHAT, EMBEDDINGS, RESPONSES = "/v1/chat/completions", "/v1/embeddings", "/v1/responses"
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def _caller(who: Submitter) -> Caller:
    return Caller(who.key_id, who.key_name, who.team, frozenset(who.scopes))


def _context(line: LineRequest) -> tuple[RequestContext, str]:
    endpoint, request_id = line.endpoint, line.request_id
    caller = _caller(line.who)
    fmt = "float"
    if endpoint == CHAT:
        request = parse_chat_request(orjson.dumps(line.body))
        if request.stream:
            raise InvalidRequest("'stream' is not supported in a batch: each answer is written to the "
                                 "batch's output file. Remove 'stream' from the line.", param="stream")
        if request.n > 1:
            raise InvalidRequest("'n' greater than 1 is not supported in a batch: write one line per answer "
                                 "(each with its own custom_id).", param="n")
        ctx = RequestContext(request_id=request_id, request=request, caller=caller)
    elif endpoint == EMBEDDINGS:
        embed, fmt = parse_embedding_request(line.body)
        ctx = RequestContext(request_id=request_id, request=embed, caller=caller, operation="embeddings")
    else:
        raise InvalidRequest(f"Corral does not run {endpoint} lines in batches; batch "
                             f"{CHAT}, {EMBEDDINGS} or {RESPONSES} requests.", param="url")
    ctx.client_request_id = line.custom_id
    ctx.job_id = line.batch_id  # the record says which batch it ran for
    ctx.deferred = line.deferred  # a native batch line: its upstream call goes to the provider's batch
    return ctx, fmt


def line_server(gateway: Any) -> Any:
    """The `LineServer` the batch runner calls for each item."""

    async def serve(line: LineRequest) -> LineOutcome:
        request_id = line.request_id
        try:
            if line.endpoint == RESPONSES:
                return LineOutcome(200, request_id, await _response(gateway, line))
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


async def _response(gateway: Any, line: LineRequest) -> dict[str, Any]:
    """A `/v1/responses` line: the Response object, stored as `store` asks (its id is the
    line's, so a line run again after a crash finds its stored answer instead of a second call)."""
    store = ResponseStore(gateway.db)
    # As the batch's key would see them: a line's previous_response_id follows `ownership`.
    caller = dataclasses.replace(_caller(line.who), own_key_only=gateway.settings.ownership == "key")
    response_id = response_id_for(line.request_id)
    with contextlib.suppress(ResponseNotFound):
        done = await store.get(response_id, caller.team)
        if done.status not in ("queued", "in_progress"):
            return done.body
    prepared = await service.prepare(store, line.body, caller, response_id,
                                     limit_bytes=gateway.settings.server.max_body_bytes)
    if prepared.stream or prepared.body["background"]:
        param = "stream" if prepared.stream else "background"
        raise InvalidRequest(f"'{param}' is not supported in a batch: each answer is written to the "
                             f"batch's output file. Remove '{param}' from the line.", param=param)
    ctx = await service.context(prepared, caller, gateway, client_request_id=line.custom_id)
    ctx.job_id = line.batch_id
    result = await gateway.handle(ctx)
    assert isinstance(result, ChatResponse)  # not streamed: checked above
    return await service.answer(store, prepared, ctx, result)
