"""The `grounding` stage: a route's `knowledge` option grounds every chat request in its stores.

    stores    the option's stores the caller may see (its team's; its key's under
              `ownership: key`); another team's store is never searched, and a caller that
              may see none of them is refused (403) instead of answered ungrounded
    query     the text of the latest user message, searched as written
    sources   the best `top_k` chunks of those stores, then as many of them, best first, as
              fit in `max_context_tokens` with the rules (the record counts the rest as dropped)
    prompt    the rules after the leading system messages, the delimited sources just before
              the latest user message (corral.knowledge.grounding: the Responses API's
              file_search sends the same)
    answer    left as the model wrote it; the `[n]` markers it cites are read
              (corral.knowledge.citations) into `ctx.grounding.cited` for the API edge

Why a stage and not the endpoint: inside the lifecycle the retrieved text passes the privacy
stage like any prompt (redacted before the provider, refused on a block route), the request's
record carries what grounding added and dropped, and the cache's key covers the sources:
`ctx.original` becomes the grounded request, as a Responses file_search's request is when it
enters the lifecycle. Each query embedding is an ordinary recorded request, `req_X:fsN`.

A request that already carries retrieved context (a Responses file_search) keeps its own,
and a child call (a summarizer) is not grounded again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from corral.config import ModelSettings
from corral.core.context import GroundingNote, RequestContext, SourceRef
from corral.core.errors import PermissionDenied
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Message
from corral.knowledge.citations import Citer
from corral.knowledge.errors import StoreNotFound
from corral.knowledge.grounding import (
    MAX_QUERY_CHARS,
    Source,
    context_tokens,
    prompt_messages,
    search_stores,
    within_budget,
)
from corral.knowledge.objects import VectorStore
from corral.knowledge.service import Knowledge
from corral.knowledge.settings import RouteKnowledge
from corral.store.schema import utcnow

SOURCES_HEADER = "x-corral-sources"


class RouteLike(Protocol):
    public_name: str
    settings: ModelSettings | None


class RouteLookup(Protocol):
    """What the stage needs of the route table (`RouteTable` satisfies it)."""

    def resolve(self, ctx: RequestContext) -> RouteLike: ...


class NoKnowledgeStore(PermissionDenied):
    code = "knowledge_store_unavailable"


class GroundingStage:
    name = "grounding"

    def __init__(self, routes: RouteLookup, knowledge: Callable[[], Knowledge]) -> None:
        self.routes = routes
        self.knowledge = knowledge  # the gateway's, built on first use (it embeds through the gateway)

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        request = ctx.request
        route = self.routes.resolve(ctx)
        option = route.settings.knowledge if route.settings is not None else None
        if (option is None or ctx.grounding is not None or ctx.parent is not None
                or not isinstance(request, ChatRequest)):
            return await call_next(ctx)
        sources = await self._retrieve(ctx, request, option, route.public_name)
        ctx.request = ctx.original = grounded(request, prompt_messages(sources))
        ctx.response_headers[SOURCES_HEADER] = str(len(sources))
        result = await call_next(ctx)
        if isinstance(result, ChatResponse):
            citer = Citer(sources)
            citer.feed(result.content or "", final=True)
            _cited(ctx, citer)
            return result
        if isinstance(result, ChatStream):
            return result.map(lambda chunks: _read_citations(ctx, Citer(sources), chunks))
        return result

    async def _retrieve(self, ctx: RequestContext, request: ChatRequest, option: RouteKnowledge,
                        route: str) -> list[Source]:
        """Search the caller's stores of the option; note what was kept and dropped."""
        kb = self.knowledge()
        stores = await self._stores(kb, option, ctx, route)
        ids: list[str] = []

        def next_id() -> str:
            ids.append(f"{ctx.request_id}:fs{len(ids) + 1}")
            return ids[-1]

        assert ctx.caller is not None  # _stores refused a request without one
        found = await search_stores(kb, stores, ctx.caller, latest_user_text(request.messages), option.top_k,
                                    None, option.score_threshold, next_id)
        kept = within_budget(found, option.max_context_tokens)
        refs = tuple(SourceRef(i, s.file_id, s.filename, s.score) for i, s in enumerate(kept, 1))
        ctx.grounding = GroundingNote(context_tokens(kept), len(kept), tuple(ids),
                                      dropped=len(found) - len(kept), listed=refs,
                                      source_texts=tuple(s.text for s in kept))
        return kept

    async def _stores(self, kb: Knowledge, option: RouteKnowledge, ctx: RequestContext,
                      route: str) -> list[VectorStore]:
        """The option's stores this caller may see, unexpired; none at all is a 403."""
        usable: list[VectorStore] = []
        if ctx.caller is not None:
            for store_id in option.stores:
                try:
                    store = await kb.stores.get(store_id, ctx.caller.scope)
                except StoreNotFound:
                    continue  # another team's (or key's), or deleted: never searched
                if not store.expired(utcnow()):
                    usable.append(store)
        if not usable:
            raise NoKnowledgeStore(
                f"The model '{route}' answers from knowledge stores, and none of them is available to "
                "this API key (they belong to another team, or were deleted or have expired). An operator "
                f"lists this team's vector stores in models.{route}.knowledge.stores.")
        return usable


def latest_user_text(messages: Sequence[Message]) -> str:
    """The text of the latest user message with any ('' when there is none)."""
    for message in reversed(messages):
        if message.role == "user":
            text = message.text().strip()
            if text:
                return text[:MAX_QUERY_CHARS]
    return ""


def grounded(request: ChatRequest, added: list[Message]) -> ChatRequest:
    """`request` with the rules after its leading system messages and the sources block
    just before its latest user message (as the Responses API places them)."""
    messages = list(request.messages)
    lead = next((i for i, m in enumerate(messages) if m.role not in ("system", "developer")), len(messages))
    messages.insert(lead, added[0])
    at = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages))
    messages[at:at] = added[1:]
    return dataclasses.replace(request, messages=messages)


def _cited(ctx: RequestContext, citer: Citer) -> None:
    if ctx.grounding is not None:
        ctx.grounding = dataclasses.replace(ctx.grounding, cited=tuple(citer.cited))


async def _read_citations(ctx: RequestContext, citer: Citer,
                          chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    """Pass chunks on unchanged, reading the markers; the citations are complete before the
    chunk that finishes the answer goes on (the API edge puts them on it)."""
    done = False
    async for chunk in chunks:
        if chunk.content and not done:
            citer.feed(chunk.content)
        if chunk.finish_reason is not None and not done:
            citer.feed("", final=True)
            _cited(ctx, citer)
            done = True
        yield chunk
    if not done:
        citer.feed("", final=True)
        _cited(ctx, citer)
