"""Serving exact-cache hits on a route with ``cache.exact``: who may, and how a hit is replayed.

The rules (docs/failures.md, "Exact cache", says them to operators):

* **Privacy.** The cache keeps answers at rest. A request under a ``log-only`` policy (the
  provider saw raw values, so the answer may repeat them) or a ``block`` policy (the route's
  owner asked for the strictest handling; detection is not perfect, and what it missed would
  stay on disk) neither reads nor writes an entry. Under ``redact`` the entry holds the
  answer as the provider wrote it, with placeholders; the privacy stage, outside the cache,
  restores the values for the request that asked. Key and route rules combine as they do
  for the provider (the stricter wins), since the stage reads the resolved ``ctx.privacy``.
* **Sampling.** A request that sends ``temperature > 0`` or ``top_p < 1`` without a ``seed``
  asks for a fresh sample, so it is answered by the model unless the route also sets
  ``exact_when_sampling``. A request that sends neither leaves sampling to the provider and
  is served from the cache: the operator who turned the cache on wants repeated prompts
  answered once, and the official SDKs send no temperature unless told to. A ``seed`` asks
  for a reproducible answer, which a cached one is.
* **The client's word.** ``Cache-Control: no-cache`` or ``x-corral-cache: bypass`` skip the
  lookup (the fresh answer replaces the entry); ``Cache-Control: no-store`` skips the lookup
  and keeps nothing, not even for the failure fallback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from corral.cache.exact import Entry
from corral.config import RouteCache
from corral.core.context import CacheNote, RequestContext
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, ReasoningDelta, ToolCallDelta

KEEPS_NOTHING = frozenset({"log-only", "block"})  # privacy policies under which nothing is cached
BYPASS = CacheNote("bypass")
SKIP_PRIVACY = CacheNote("skip", "privacy")
SKIP_SAMPLING = CacheNote("skip", "sampling")
MISS = CacheNote("miss")


def client_directive(cache_control: str | None, corral: str | None) -> str | None:
    """``no-store``, ``bypass`` or None, from the request's ``Cache-Control`` and ``x-corral-cache``
    headers (``no-store`` is the stronger and wins)."""
    directives = {d.strip().lower() for d in cache_control.split(",")} if cache_control else set()
    if "no-store" in directives:
        return "no-store"
    if "no-cache" in directives or (corral is not None and corral.strip().lower() == "bypass"):
        return "bypass"
    return None


def sampling(request: ChatRequest) -> bool:
    """Whether the client explicitly asked for a random sample (see the module doc)."""
    if request.seed is not None:
        return False
    t, p = request.temperature, request.top_p
    return (t is not None and t > 0) or (p is not None and p < 1)


def admission(ctx: RequestContext, request: ChatRequest, rule: RouteCache) -> CacheNote | None:
    """None when the request may be answered from the cache; else the note saying why not."""
    privacy = ctx.privacy
    if privacy is not None and privacy.policy in KEEPS_NOTHING:
        return SKIP_PRIVACY
    if ctx.cache_directive is not None:
        return BYPASS
    if not rule.exact_when_sampling and sampling(request):
        return SKIP_SAMPLING
    return None


def hit_note(entry: Entry, age_s: float, similarity: float | None = None) -> CacheNote:
    """The record's view of a hit: how the replayed answer was first made, and for a semantic
    hit how similar the message it answered was."""
    origin = entry.origin
    latency = origin.get("latency_ms")
    return CacheNote(
        "hit", served_model=origin.get("served_model") or entry.response.model,
        provider_type=origin.get("provider"), deployment=origin.get("deployment"),
        usage=entry.response.usage, latency_ms=float(latency) if latency is not None else None,
        age_s=age_s, similarity=similarity,
    )


def origin_of(ctx: RequestContext, latency_ms: float) -> dict[str, Any]:
    """How an answer about to be stored was made: what pricing a later hit's saving needs."""
    provider = ctx.routing.provider_type
    if provider is None and ctx.deployment is not None:
        provider = next((a.provider for a in reversed(ctx.attempts) if a.deployment == ctx.deployment), None)
    return {"served_model": ctx.served_model, "provider": provider, "deployment": ctx.deployment,
            "latency_ms": round(latency_ms, 3)}


async def replay(answer: ChatResponse) -> AsyncIterator[ChatChunk]:
    """A stored answer as a stream: its text, its tool calls (each whole), the finish, the usage
    (sent on only when the client asked for it with ``include_usage``, as for a live stream)."""
    for index, block in enumerate(answer.reasoning or ()):  # thinking first, as it was streamed
        if block.get("type") == "redacted_thinking":
            yield ChatChunk(reasoning=ReasoningDelta(index, redacted=str(block.get("data", ""))))
        else:
            yield ChatChunk(reasoning=ReasoningDelta(index, text=str(block.get("thinking", ""))))
            yield ChatChunk(reasoning=ReasoningDelta(index, signature=str(block.get("signature", ""))))
    if answer.content or answer.logprobs or answer.refusal:
        yield ChatChunk(content=answer.content, logprobs=answer.logprobs, refusal=answer.refusal,
                        system_fingerprint=answer.system_fingerprint, service_tier=answer.service_tier)
    if answer.tool_calls:
        yield ChatChunk(tool_calls=[ToolCallDelta(i, c.id, c.name, c.arguments)
                                    for i, c in enumerate(answer.tool_calls)])
    yield ChatChunk(finish_reason=answer.finish_reason or "stop")
    if answer.usage is not None:
        yield ChatChunk(usage=answer.usage)
