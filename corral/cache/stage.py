"""The cache stage: answer identical requests once, and remember answers for the fallback.

It computes the request's exact-cache key (``ctx.cache_key``) before the
inner stages run, then stores successful answers in the background: a non-stream
response right away, a stream once its last chunk went out cleanly (a stream that
failed or that the client abandoned is never stored). The router calls
:meth:`CacheStage.lookup` when every deployment failed and the route has
``cache_fallback`` on. A route with ``cache.exact`` also answers from a fresh entry
on the normal path, without calling a provider (rules in corral.cache.serve); a route
without it pays one attribute read for the feature.

Not stored: degraded answers (``ctx.degraded``: a content-policy fallback
model's answer, a cached or canned reply), anything a client sent with
``Cache-Control: no-store``, and anything for routes with ``cache_fallback: false``,
whose operators opted out of keeping answers, unless they opted in with ``cache.exact``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol

from corral.cache.exact import Entry, ExactCache
from corral.cache.keys import cache_key
from corral.cache.owners import OwnerKind, owner_tags
from corral.cache.semantic import Probe, SemanticCache
from corral.cache.semantic_index import CHOSEN_THRESHOLD
from corral.cache.serve import MISS, SKIP_PRIVACY, SKIP_SAMPLING, admission, hit_note, origin_of, replay
from corral.cache.writer import CacheWriter
from corral.config import ModelSettings, RouteCache
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


def _exact(route: RouteLike) -> RouteCache | None:
    """The route's ``cache`` option when it serves hits on the normal path, else None."""
    rule = route.settings.cache if route.settings is not None else None
    return rule if rule is not None and (rule.exact or rule.semantic) else None


class CacheStage:
    name = "cache"

    def __init__(self, cache: ExactCache, routes: RouteLookup, *, max_pending: int = 1000,
                 clock: Callable[[], float] = time.time, semantic: SemanticCache | None = None) -> None:
        self.cache = cache
        self.semantic = semantic  # set when a route has cache.semantic (its embedding model loads then)
        self.routes = routes
        self.writer = CacheWriter(cache, max_pending=max_pending)  # writes to a remote KV
        self.clock = clock  # wall clock, as the entries' cached_at (tests move it to expire them)

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
        rule = _exact(route)
        if rule is not None:
            return await self._exact(ctx, call_next, key, rule, _fallback_enabled(route), route.public_name)
        result = await call_next(ctx)
        if not _fallback_enabled(route) or ctx.cache_directive == "no-store":
            return result
        result, write = self._keep(ctx, key, result)
        if write is not None:
            await write  # in-process KV: a dict write, cheaper than a task
        return result

    async def _exact(self, ctx: RequestContext, call_next: Next, key: str, rule: RouteCache,
                     fallback: bool, route: str) -> Result:
        """A route with ``cache.exact`` (or ``semantic``): a fresh entry answers without calling the
        provider; otherwise the model answers and (rules in corral.cache.serve) the answer is kept."""
        request = expect(ctx.original, ChatRequest)
        note = admission(ctx, request, rule)
        probe: Probe | None = None
        if note is None:
            entry = await self.cache.get_entry(key)
            if entry is not None:
                age = self.clock() - entry.cached_at
                if age < rule.ttl_s:
                    return self._hit(ctx, entry, age)
                self.cache.counters["expired"] += 1
            if rule.semantic and self.semantic is not None:
                probe = await self.semantic.probe(ctx, request, route, _scope(ctx))
                found = await self.semantic.find(probe, similarity(rule), rule.ttl_s) if probe else None
                if found is not None:
                    return self._hit(ctx, found.entry, self.clock() - found.entry.cached_at, found.similarity)
            note = MISS
        ctx.cache = note
        ctx.response_headers["x-corral-cache"] = note.outcome
        result = await call_next(ctx)
        if note is SKIP_PRIVACY or ctx.cache_directive == "no-store":
            return result  # nothing kept, not even for the fallback
        if note is SKIP_SAMPLING:  # not replayed on the normal path; still the fallback's
            if not fallback:
                return result
            result, write = self._keep(ctx, key, result)
        else:
            result, write = self._keep(ctx, key, result, ttl_s=max(rule.ttl_s, self.cache.ttl_s), exact=True,
                                       probe=probe)
        if write is not None:
            await write
        return result

    def _hit(self, ctx: RequestContext, entry: Entry, age_s: float, similar: float | None = None) -> Result:
        """Answer from ``entry``: as it was stored, or replayed as a stream for a stream request.
        ``similar``: the cosine of a semantic hit (None: the exact request)."""
        ctx.cache = hit_note(entry, age_s, similar)
        ctx.served_model = ctx.cache.served_model
        ctx.response_headers["x-corral-cache"] = "hit"
        if similar is not None:
            ctx.response_headers["x-corral-cache-match"] = f"semantic; similarity={similar:.3f}"
        answer = entry.response
        if not expect(ctx.request, ChatRequest).stream:
            return answer
        return ChatStream(replay(answer), model=answer.model)

    def _keep(self, ctx: RequestContext, key: str, result: Result, *, ttl_s: float | None = None,
              exact: bool = False, probe: Probe | None = None,
              ) -> tuple[Result, Coroutine[Any, Any, Any] | None]:
        """``result`` set up to be stored once complete (a stream: after its last chunk), and the
        write for the caller to await when it is an in-process one (no extra await otherwise)."""
        if isinstance(result, ChatResponse):
            return result, self._store(ctx, key, result, ttl_s, exact, probe)
        stream = expect(result, ChatStream)  # a chat-only stage: an answer or a stream
        model = stream.model
        return stream.map(lambda chunks: self._collect(ctx, key, model, chunks, ttl_s, exact, probe)), None

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
        self, ctx: RequestContext, key: str, response: ChatResponse, ttl_s: float | None = None,
        exact: bool = False, probe: Probe | None = None,
    ) -> Coroutine[Any, Any, Any] | None:
        """Serialise now; write in the background when the KV is remote, so the response never
        waits on the network. With the in-process KV, return the write for the caller to await.
        ``exact``: a route serving hits, which keeps tool calls and how the answer was made."""
        if ctx.degraded:
            self.cache.counters["skipped_degraded"] += 1
            return None
        if ctx.privacy is not None and ctx.privacy.policy == "log-only":
            self.cache.counters["skipped_private"] += 1  # the provider saw raw values; keep none
            return None
        origin = origin_of(ctx, (time.perf_counter() - ctx.started) * 1000) if exact else None
        if origin is not None and probe is not None:
            origin["prompt"] = probe.text  # what the semantic guard compares a later message with
        # before outer stages can change the object
        payload = self.cache.encode(response, tools_ok=exact, origin=origin)
        if payload is None:
            return None
        if probe is not None and self.semantic is not None:
            self.semantic.remember(probe, key, ttl_s or self.cache.ttl_s)
        tags = _owner_tags(ctx)  # erasure finds the entry by end user, key or request
        if self.cache.kv.local:  # KV.local / BoundedMemoryStore.local: no I/O to wait on
            return self.cache.put_encoded(key, payload, ttl_s, tags)
        self.writer.put(key, payload, ttl_s, tags)  # shed as skipped_busy when the KV is slower than traffic
        return None

    async def erase_owner(self, kind: OwnerKind, value: str) -> dict[str, int]:
        """Delete one owner's entries from the cache store (this process's memory, or Redis) and
        their rows from this process's semantic index: {store name: entries deleted}. Queued
        writes go out first, so none lands after the erasure."""
        await self.writer.flush(timeout_s=10.0)
        keys, live = await self.cache.erase_owner(kind, value)
        erased = {"exact_cache_memory" if self.cache.kv.local else "exact_cache": live}
        if self.semantic is not None:
            erased["semantic_cache_index"] = self.semantic.forget(keys)
        return erased

    async def _collect(
        self, ctx: RequestContext, key: str, model: str, chunks: AsyncIterator[ChatChunk],
        ttl_s: float | None = None, exact: bool = False, probe: Probe | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Pass chunks through while reassembling the answer; store only on clean completion."""
        tally = Tally()
        async for chunk in chunks:
            tally.add(chunk)
            yield chunk
        # Reached only when the source ended normally: errors and early closes skip this.
        response = tally.response(ctx.request_id, model or ctx.served_model or "", int(time.time()))
        write = self._store(ctx, key, response, ttl_s, exact, probe)
        if write is not None:
            await write


def similarity(rule: RouteCache) -> float:
    """The route's semantic threshold, or the one measured for the built-in model."""
    return rule.similarity if rule.similarity is not None else CHOSEN_THRESHOLD


def _owner_tags(ctx: RequestContext) -> tuple[str, ...]:
    """The entry's owners: the request's end user, the caller's key, the request (a child call's
    entry belongs to the request it serves)."""
    root = ctx
    while root.parent is not None:
        root = root.parent
    key_id = ctx.caller.key_id if ctx.caller is not None else None
    return owner_tags(ctx.original.user, key_id, root.request_id)


def _scope(ctx: RequestContext) -> tuple[str, ...]:
    """Who may be answered from an entry: the caller's team and the request's end user; with a
    registry system prompt (corral.prompts), only requests sent with that very version (the
    prompt is not in ``ctx.original``, and a label moves)."""
    caller = ctx.caller
    scope = (caller.team if caller is not None else "", ctx.original.user or "")
    return scope if ctx.system_prompt is None else (*scope, ctx.system_prompt.sha256)
