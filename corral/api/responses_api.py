"""`/v1/responses`: OpenAI's Responses API. HTTP only: authenticate, read, call
`corral.responses`, write JSON or the event stream.

Create is a plain ASGI endpoint, like chat, so it shares chat's disconnect watch and event
writer (corral/api/watch.py): a client that leaves cancels the upstream call, and the
record says so. The other endpoints read and change stored responses of the caller's team;
another team's response is answered exactly like a missing one (404).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from corral.api.auth import authenticate, key_from_values, verify_key
from corral.api.params import int_param, path_text
from corral.api.responses import json_response
from corral.api.watch import JSON_TYPE, SSE_RAW, ClientGone, DisconnectWatch, receive_body, stream_events
from corral.api.wire import parse_json_object
from corral.core.context import Caller
from corral.core.errors import InvalidRequest
from corral.core.stream import ChatStream
from corral.jobs.queue import JobQueue
from corral.observe.tracecontext import trace_headers
from corral.responses import background, service
from corral.responses.errors import BackgroundUnavailable
from corral.responses.ids import response_id_for
from corral.responses.store import ResponseStore, page_items

PATH = "/v1/responses"


def _store(gateway: Any) -> ResponseStore:
    return ResponseStore(gateway.db)


def _jobs(gateway: Any) -> JobQueue:
    """The job queue, when this gateway's worker runs background responses."""
    worker = getattr(gateway, "worker", None)
    if worker is None or background.KIND not in worker.handlers:
        raise BackgroundUnavailable
    return cast(JobQueue, gateway.jobs)


class CreateEndpoint:
    """`POST /v1/responses`: run the request through the lifecycle and answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.perf_counter()
        gateway = scope["app"].state.gateway
        state = scope["state"]
        headers = Headers(scope=scope)
        caller = await verify_key(gateway, key_from_values(
            headers.get("authorization"), headers.get("x-api-key"), headers.get("api-key")), "inference")
        limit = gateway.settings.server.max_body_bytes
        try:
            body = await receive_body(receive, headers.get("content-length"), limit)
        except ClientGone:
            return
        store = _store(gateway)
        prepared = await service.prepare(store, parse_json_object(body), caller,
                                         response_id_for(state["request_id"]), limit_bytes=limit)
        await service.check_stores(gateway, prepared, caller)  # not the team's store: 404 before it runs
        if prepared.body["background"]:
            answer = await background.submit(store, _jobs(gateway), prepared, caller)
            await json_response(answer)(scope, receive, send)
            return
        await _run(gateway, store, prepared, caller, arrived, state.get("client_request_id"), receive, send,
                   trace=trace_headers(headers.raw))


async def _run(gateway: Any, store: ResponseStore, prepared: service.Prepared, caller: Caller, arrived: float,
               client_id: str | None, receive: Receive, send: Send,
               trace: tuple[str | None, str | None] = (None, None)) -> None:
    ctx = await service.context(prepared, caller, gateway, started=arrived, client_request_id=client_id)
    ctx.trace_parent, ctx.trace_state = trace  # the caller's W3C trace context, checked when recorded
    watch = DisconnectWatch(receive, ctx)  # from here on, a vanished client cancels the work
    try:
        result = await gateway.handle(ctx)  # the lifecycle records it (a stream: when it is over)
    except asyncio.CancelledError:
        if not watch.gone:
            watch.stop()
            raise
        watch.absorb()  # recorded as abandoned (499); nobody is there to answer
        return
    except BaseException:
        watch.stop()
        raise  # rendered by the app's error handlers
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ctx.response_headers.items()]
    if isinstance(result, ChatStream):
        events = service.events(store, prepared, ctx, result)
        await stream_events(send, watch, result, events, [*SSE_RAW, *extra], ctx)
        return
    watch.stop()  # the answer is complete: storing it is not the client's to cancel
    payload = orjson.dumps(await service.answer(store, prepared, ctx, result))
    extra += ((b"content-length", str(len(payload)).encode()), JSON_TYPE)
    await send({"type": "http.response.start", "status": 200, "headers": extra})
    await send({"type": "http.response.body", "body": payload})


async def _caller_and_id(request: Request) -> tuple[Caller, str]:
    return await authenticate(request, "inference"), path_text(request, "response_id")


async def get_response(request: Request) -> Response:
    caller, response_id = await _caller_and_id(request)
    if request.query_params.get("stream") not in (None, "", "false"):
        raise InvalidRequest("Streaming a stored response again is not supported by Corral; GET it without "
                             "'stream' (poll until its status is final).", param="stream")
    gateway = request.app.state.gateway
    store = _store(gateway)
    stored = await store.get(response_id, caller.scope)
    if stored.status in background.LIVE:  # its job may have ended without it (a killed worker)
        stored = await background.settle_orphan(store, _jobs(gateway), stored, _notify(gateway))
    return json_response(stored.body)


async def delete_response(request: Request) -> Response:
    caller, response_id = await _caller_and_id(request)
    await _store(request.app.state.gateway).delete(response_id, caller.scope)
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def cancel_response(request: Request) -> Response:
    caller, response_id = await _caller_and_id(request)
    gateway = request.app.state.gateway
    store = _store(gateway)
    stored = await store.get(response_id, caller.scope)
    if not stored.body.get("background"):
        raise InvalidRequest("Only responses created with 'background': true can be cancelled.",
                             param="response_id")
    return json_response(await background.cancel(store, _jobs(gateway), stored, _notify(gateway)))


def _notify(gateway: Any) -> background.Notify | None:
    """The webhook emitter (corral.webhooks): response.<status> events."""
    webhooks = getattr(gateway, "webhooks", None)
    return webhooks.emit if webhooks is not None else None


async def list_input_items(request: Request) -> Response:
    caller, response_id = await _caller_and_id(request)
    limit = int_param(request, "limit", 20, 1, 100)
    order = request.query_params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'.", param="order")
    after = request.query_params.get("after") or None
    stored = await _store(request.app.state.gateway).get(response_id, caller.scope)
    data, has_more = page_items(stored.items, limit=limit, order=order, after=after)
    return json_response({"object": "list", "data": data, "has_more": has_more,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None})


ROUTES = [
    Route(PATH, CreateEndpoint(), methods=["POST"]),
    Route(PATH + "/{response_id}", get_response, methods=["GET"]),
    Route(PATH + "/{response_id}", delete_response, methods=["DELETE"]),
    Route(PATH + "/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route(PATH + "/{response_id}/input_items", list_input_items, methods=["GET"]),
]
