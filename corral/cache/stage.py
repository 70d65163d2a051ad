"""The cache stage: remember complete answers so the router can fall back on them.

It computes the request's exact-cache key (``ctx.cache_key``) before the
inner stages run, then stores successful answers in the background: a non-stream
response right away, a stream once its last chunk went out cleanly (a stream that
failed or that the client abandoned is never stored). It does not serve hits on the
normal path yet; the router calls :meth:`CacheStage.lookup` when every deployment
failed and the route has ``cache_fallback`` on.

Not stored: degraded answers (``ctx.degraded``: a content-policy fallback
model's answer, a cached or canned reply), and anything for routes with
``cache_fallback: false``, whose operators opted out of keeping answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from corral.cache.exact import ExactCache
from corral.cache.keys import cache_key
from corral.cache.writer import CacheWriter
from corral.config import ModelSettings
from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream, Tally
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, expect


class RouteLike(Protocol):
    public_name: str
    settings: ModelSettings | None


class RouteLookup(Protocol):
    """What the stage needs of the route table (``RouteTable`` satisfies it)."""

    def resolve(self, ctx: RequestContext) -> RouteLike: ...


def _fallback_enabled(route: RouteLike) -> bool:
    return route.settings is None or route.settings.cache_fallback


class CacheStage:
    name = "cache"

    def __init__(self, cache: ExactCache, routes: RouteLookup, *, max_pending: int = 1000) -> None:
        self.cache = cache
        self.routes = routes
        self.writer = CacheWriter(cache, max_pending=max_pending)  # writes to a remote KV

    def key_for(self, ctx: RequestContext) -> tuple[str, RouteLike] | None:
        """The request's key (aliases resolved to the public name), or None for unknown models.

        Keyed on what the client sent (`ctx.original`), not the redacted copy: two prompts
        that differ only in personal values redact to the same text, and must not share an
        answer. Scoped by team and end user: an entry answers only its own team (and user).
        """
        try:
            route = self.routes.resolve(ctx)
        except CorralError:
            return None  # the router will report the unknown model
        return cache_key(expect(ctx.original, ChatRequest), route.public_name, scope=_scope(ctx)), route

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        found = self.key_for(ctx)
        if found is None:
            return await call_next(ctx)
        key, route = found
        ctx.cache_key = key
        result = await call_next(ctx)
        if not _fallback_enabled(route):
            return result
        if isinstance(result, ChatResponse):
            write = self._store(ctx, key, result)
            if write is not None:
                await write  # in-process KV: a dict write, cheaper than a task
            return result
        stream = expect(result, ChatStream)  # a chat-only stage: an answer or a stream
        model = stream.model
        return stream.map(lambda chunks: self._collect(ctx, key, model, chunks))

    async def fallback_answer(self, ctx: RequestContext) -> ChatResponse | None:
        """The router's fallback source: an identical request's answer, when the route's
        deployments all failed and it allows cache fallback."""
        return await self.lookup(ctx)

    async def lookup(self, ctx: RequestContext) -> ChatResponse | None:
        """A cached answer to this exact request, if the route allows cache fallback."""
        key = ctx.cache_key
        try:
            route = self.routes.resolve(ctx)
        except CorralError:
            return None
        if not _fallback_enabled(route):
            return None
        if key is None:
            key = cache_key(expect(ctx.original, ChatRequest), route.public_name, scope=_scope(ctx))
        return await self.cache.get(key)

    async def drain(self) -> None:
        """Finish the background writes, then stop the writer (shutdown and tests); the next
        write starts it again."""
        await self.writer.aclose()

    def _store(
        self, ctx: RequestContext, key: str, response: ChatResponse
    ) -> Coroutine[Any, Any, Any] | None:
        """Serialise now; write in the background when the KV is remote, so the response never
        waits on the network. With the in-process KV, return the write for the caller to await."""
        if ctx.degraded:
            self.cache.counters["skipped_degraded"] += 1
            return None
        if ctx.privacy is not None and ctx.privacy.policy == "log-only":
            self.cache.counters["skipped_private"] += 1  # the provider saw raw values; keep none
            return None
        payload = self.cache.encode(response)  # before outer stages can change the object
        if payload is None:
            return None
        if self.cache.kv.local:  # KV.local / BoundedMemoryStore.local: no I/O to wait on
            return self.cache.put_encoded(key, payload)
        self.writer.put(key, payload)  # shed as skipped_busy when the KV is slower than traffic
        return None

    async def _collect(
        self, ctx: RequestContext, key: str, model: str, chunks: AsyncIterator[ChatChunk]
    ) -> AsyncIterator[ChatChunk]:
        """Pass chunks through while reassembling the answer; store only on clean completion."""
        tally = Tally()
        async for chunk in chunks:
            tally.add(chunk)
            yield chunk
        # Reached only when the source ended normally: errors and early closes skip this.
        response = tally.response(ctx.request_id, model or ctx.served_model or "", int(time.time()))
        write = self._store(ctx, key, response)
        if write is not None:
            await write


def _scope(ctx: RequestContext) -> tuple[str, str]:
    """Who may be answered from an entry: the caller's team and the request's end user."""
    caller = ctx.caller
    return (caller.team if caller is not None else "", ctx.original.user or "")
