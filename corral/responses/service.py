"""The flow every response follows, at the HTTP edge and in the background worker alike.

    prepare   check the request, load the conversation it continues (team-scoped, bounded)
    context   run the file_search tool's search, if any (corral.responses.grounding), and
              build the `RequestContext` with the canonical `ChatRequest`; the caller runs it
              through `gateway.handle` (privacy, routing, context, record, cost)
    answer    a canonical answer -> the finished Response object, stored when asked
    events    a canonical stream -> the Responses event stream, stored when it ends

The request record of a response is the request `req_X` behind `resp_X` (corral.responses.ids),
recorded as an ordinary chat operation: every stage treats it like any chat request.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import orjson

from corral.core.context import Caller, RequestContext
from corral.core.errors import CorralError, InvalidRequest
from corral.core.ownership import Scope
from corral.core.stream import ChatStream
from corral.core.types import ChatRequest, ChatResponse
from corral.knowledge.wiring import GatewayParts, knowledge_for
from corral.responses.canonical import chat_request
from corral.responses.events import response_events
from corral.responses.file_search import KIND as FILE_SEARCH
from corral.responses.grounding import Grounding, latest_query, open_stores, retrieve
from corral.responses.ids import request_id_for
from corral.responses.output import fail, finish_answer
from corral.responses.params import parse_create
from corral.responses.store import ResponseStore, StoredResponse


@dataclass(slots=True)
class Prepared:
    """A response about to run: its row as it will be stored, and what it continues."""

    stored: StoredResponse
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier responses' items, oldest first
    stream: bool = False
    limit_bytes: int = 0  # what one response may store of input, of output, and a conversation in all
    include_results: bool = False  # include: ["file_search_call.results"]
    grounding: Grounding | None = None  # the file_search done for it, once `context` ran

    @property
    def body(self) -> dict[str, Any]:
        return self.stored.body

    def chat(self) -> ChatRequest:
        extra = self.grounding.messages() if self.grounding is not None else None
        return chat_request(self.body, self.history + self.stored.items, stream=self.stream, grounding=extra)

    def search_tool(self) -> tuple[dict[str, Any], str] | None:
        """The file_search tool and where it is (`tools[i]`), unless tool_choice is 'none'."""
        if self.body["tool_choice"] == "none":
            return None
        found = [(t, f"tools[{i}]") for i, t in enumerate(self.body["tools"]) if t["type"] == FILE_SEARCH]
        return found[0] if found else None


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


async def prepare(store: ResponseStore, data: dict[str, Any], caller: Caller, response_id: str, *,
                  limit_bytes: int) -> Prepared:
    """Check a create request and load the conversation it continues.

    `limit_bytes` (the server's body limit) bounds a whole conversation, so a chain of
    `previous_response_id`s never holds more than one request body could carry."""
    draft = parse_create(data, response_id, int(time.time()))
    stored = StoredResponse(draft.body, draft.items, caller.team, caller.key_id,
                            conversation_bytes=_size(draft.items))
    prepared = Prepared(stored, stream=draft.stream, limit_bytes=limit_bytes,
                        include_results=draft.include_results)
    previous = draft.body["previous_response_id"]
    if previous is not None:
        await _continue(store, prepared, previous, caller.scope)
    return prepared


async def _continue(store: ResponseStore, prepared: Prepared, previous: str, owner: Scope) -> None:
    last, prepared.history = await store.conversation(previous, owner)
    stored = prepared.stored
    stored.depth = last.depth + 1
    stored.conversation_bytes += last.conversation_bytes
    if stored.conversation_bytes > prepared.limit_bytes:
        raise InvalidRequest(f"The conversation of '{previous}' with this input holds "
                             f"{stored.conversation_bytes} bytes, more than one request may carry "
                             f"({prepared.limit_bytes}); start a new conversation.",
                             param="previous_response_id")


async def resume(store: ResponseStore, stored: StoredResponse, *, limit_bytes: int,
                 include_results: bool = False) -> Prepared:
    """A stored (background) response made ready to run, its conversation reloaded (its size
    was checked when it was created)."""
    prepared = Prepared(stored, limit_bytes=limit_bytes, include_results=include_results)
    previous = stored.body.get("previous_response_id")
    if previous is not None:
        _, prepared.history = await store.conversation(previous, stored.team)
    return prepared


async def check_stores(gateway: GatewayParts, prepared: Prepared, caller: Caller) -> None:
    """Refuse at once a file_search tool naming a store the caller's team does not have (404,
    as a missing one), before anything runs or is queued."""
    found = prepared.search_tool()
    if found is not None:
        await open_stores(knowledge_for(gateway), found[0], found[1], caller.scope)


async def context(prepared: Prepared, caller: Caller, gateway: GatewayParts, *, attempt: int = 1,
                  started: float | None = None, client_request_id: str | None = None) -> RequestContext:
    """The request that produces the response; its id (and record) is `req_X` for `resp_X`
    (`req_X:2` for a background run repeated after its worker died). A file_search tool's
    search runs first, its sources put in the request before the lifecycle sees it."""
    request_id = request_id_for(prepared.stored.id)
    if attempt > 1:
        request_id = f"{request_id}:{attempt}"
    found = prepared.search_tool()
    if found is not None:
        query = latest_query(prepared.history + prepared.stored.items)
        prepared.grounding = await retrieve(knowledge_for(gateway), found[0], found[1], caller, query,
                                            request_id, include_results=prepared.include_results)
    ctx = RequestContext(request_id=request_id, request=prepared.chat(), caller=caller,
                         client_request_id=client_request_id)
    if prepared.grounding is not None:
        ctx.grounding = prepared.grounding.note()
    ctx.tags = prepared.body.get("metadata") or None  # cost attribution (corral.cost.totals)
    if started is not None:
        ctx.started = started
    return ctx


def served_model(prepared: Prepared, ctx: RequestContext) -> str:
    return ctx.public_model or str(prepared.body["model"])


async def keep(store: ResponseStore, prepared: Prepared, final: dict[str, Any]) -> None:
    """Store a finished response (`store: true`). Output beyond the limit is not kept: the
    stored copy says so as a failure, while the client has its answer."""
    if not final["store"]:
        return
    stored = prepared.stored
    output_bytes = _size(final["output"])
    if output_bytes > prepared.limit_bytes:
        final = fail(copy.deepcopy(final), CorralError(
            f"The output ({output_bytes} bytes) was more than Corral stores for one response "
            f"({prepared.limit_bytes}); it was returned but not kept."))
        output_bytes = 0
    stored.body = final
    stored.conversation_bytes += output_bytes
    if final["background"]:
        await store.update(stored, only_from=("queued", "in_progress"))
    else:
        await store.insert(stored)


async def answer(store: ResponseStore, prepared: Prepared, ctx: RequestContext,
                 result: ChatResponse) -> dict[str, Any]:
    """The finished Response object for a complete answer, stored when asked. An answer that is
    not the model's (the route's degraded message, a cached answer after every deployment failed)
    says so in Corral's extension field, `corral.degraded`: a background response has no
    `x-corral-degraded` header to carry it, and its client must be able to tell."""
    final = finish_answer(prepared.body, result, served_model(prepared, ctx), prepared.grounding)
    if ctx.degraded is not None:
        final["corral"] = {**final.get("corral", {}), "degraded": ctx.degraded}
    await keep(store, prepared, final)
    return final


def events(store: ResponseStore, prepared: Prepared, ctx: RequestContext,
           stream: ChatStream) -> AsyncGenerator[bytes]:
    """The Responses event stream for a streamed answer, stored when it ends."""
    prepared.body["model"] = served_model(prepared, ctx)

    async def on_final(final: dict[str, Any]) -> None:
        await keep(store, prepared, final)

    return response_events(stream, prepared.body, prepared.body["model"], on_final, prepared.grounding)
