"""Turn a finished request's context into its RequestRecord.

This runs once for every request, on the event loop, after the last byte went out, so
it only copies references and does arithmetic: no serialisation, no I/O (the sink's
writer encodes JSON off the request path). Content is kept only with content capture
on, and then only as the privacy stage left it, so a record never holds more personal
data than the policy allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from corral.core.context import CacheNote, PrivacyOutcome, RequestContext
from corral.core.forward import ForwardRequest
from corral.core.types import ChatRequest, EmbeddingRequest, Usage
from corral.observe.record import AttemptRecord, RequestRecord
from corral.observe.tracecontext import traceparent_of, tracestate_of

_NO_USAGE = Usage()


def _notes(ctx: RequestContext) -> dict[str, Any]:
    """The record's `extras`: what the stages decided, from the context's typed fields
    (small, JSON-safe values only; a field left at its default is not written)."""
    routing = ctx.routing
    notes: dict[str, Any] = {}
    if routing.retry_stopped is not None:
        notes["retry_stopped"] = routing.retry_stopped
    if routing.breaker_open:
        notes["breaker_open"] = routing.breaker_open
    if ctx.content_policy_fallback is not None:
        notes["content_policy_fallback"] = ctx.content_policy_fallback
    if ctx.fit is not None:
        notes["context_action"] = ctx.fit.action
    if ctx.cache_key is not None:
        notes["cache_key"] = ctx.cache_key
    if ctx.cache is not None:  # a route with cache.exact: hit | miss | bypass | skip
        _cache_notes(ctx.cache, notes)
    if ctx.client_disconnected:
        notes["client_disconnected"] = True
    if ctx.job_id is not None:
        notes["job_id"] = ctx.job_id
    if routing.dropped_params or routing.translated_params:  # the route's unsupported_params policy
        notes["params"] = {"dropped": routing.dropped_params or [],
                           "translated": routing.translated_params or []}
    if ctx.units is not None:  # a pass-through call billed per image, character or audio second
        notes["units"] = ctx.units
    usage = ctx.usage
    if usage is not None and usage.cache_writes:  # prompt-cache writes, priced apart (corral.cost.pricing)
        notes.update({k: v for k, v in (("cache_write_tokens", usage.cache_write_tokens),
                                        ("cache_write_1h_tokens", usage.cache_write_1h_tokens)) if v})
    if ctx.tags:  # cost-attribution tags; a value the privacy policy found is kept redacted
        scrub = ctx.privacy.scrub if ctx.privacy is not None else None
        notes["tags"] = {k: scrub(v) if scrub else v for k, v in ctx.tags.items()}
    if routing.native_batch is not None:
        notes["native_batch"] = routing.native_batch  # answered by the provider's batch API: priced so
    if ctx.grounding is not None:  # retrieved context: what it added to the prompt
        g = ctx.grounding
        notes["grounding"] = {"context_tokens": g.context_tokens, "sources": g.sources,
                              "search_request_ids": list(g.search_request_ids)}
        if g.dropped:  # a route's knowledge option: sources over its max_context_tokens
            notes["grounding"]["dropped"] = g.dropped
    if ctx.system_prompt is not None:  # the registry prompt prepended: the exact version sent
        p = ctx.system_prompt
        notes["system_prompt"] = {"name": p.name, "version": p.version, "label": p.label, "sha256": p.sha256}
    if ctx.trace_parent is not None:  # the caller's W3C trace: checked here, off the request's path
        _trace_notes(ctx.trace_parent, ctx.trace_state, notes)
    return notes


def _trace_notes(trace_parent: str, trace_state: str | None, notes: dict[str, Any]) -> None:
    """Keep a valid `traceparent` (and its `tracestate`) for the spans and for finding the record
    from a trace; an invalid one is dropped with its `tracestate`: the request starts a new trace."""
    if (parent := traceparent_of(trace_parent)) is None:
        return
    notes["traceparent"] = parent
    if (state := tracestate_of(trace_state)) is not None:
        notes["tracestate"] = state


def _cache_notes(note: CacheNote, notes: dict[str, Any]) -> None:
    """The exact cache's outcome; on a hit, how the replayed answer was first made (the recorder
    prices its tokens into ``cache_saved_usd``)."""
    notes["cache"] = note.outcome
    if note.reason is not None:
        notes["cache_skip"] = note.reason
    if note.outcome == "hit":
        notes["cache_original_latency_ms"] = note.latency_ms
        notes["cache_age_s"] = round(note.age_s or 0.0, 3)
        notes["cache_match"] = "exact" if note.similarity is None else "semantic"
        if note.similarity is not None:
            notes["cache_similarity"] = round(note.similarity, 4)


def build_record(
    ctx: RequestContext,
    *,
    http_status: int,
    error: BaseException | None,
    client_first_byte_at: float | None,
    finished_at: float,
    capture_content: bool,
    cost: tuple[float | None, bool] | None = None,
    response_text: str | None = None,
) -> RequestRecord:
    """The record for ``ctx``; times are ``time.perf_counter()`` values like ``ctx.started``.

    ``cost`` is ``(usd or None, priced)``. ``response_text`` is the answer as sent to
    the client (used only with ``capture_content``; it is scrubbed here).
    """
    started = ctx.started
    request = ctx.request
    caller = ctx.caller
    usage = ctx.usage or _NO_USAGE
    degraded = ctx.degraded
    if error is not None or http_status >= 400:
        status = "error"
    elif degraded:
        status = "degraded"
    else:
        status = "ok"
    provider = ctx.routing.provider_type
    if provider is None and ctx.deployment is not None:
        for a in reversed(ctx.attempts):
            if a.deployment == ctx.deployment:
                provider = a.provider
                break
    kept = _notes(ctx)
    privacy = ctx.privacy
    end_user = request.user
    if privacy is not None:
        kept["privacy"] = {"policy": privacy.policy, "entities": privacy.entities}
        # One rule for every field: what the privacy stage would not let through (log-only,
        # block) is stored only as its redacted copy, like the prompt.
        end_user = privacy.redacted.user
    prompt: Any = None
    response: str | None = None
    if capture_content:
        prompt, response = _content(ctx, privacy, response_text)
    cost_usd, priced = cost or (None, False)
    upstream_at = ctx.upstream_first_byte_at
    # Positional, in RequestRecord's field order (a test pins it): keywords cost a third more.
    return RequestRecord(
        ctx.request_id,
        time.time() - (time.perf_counter() - started),  # created_at: wall clock at the start
        caller.key_id if caller else None,
        caller.team if caller else None,
        end_user,
        ctx.public_model or request.model,  # route
        ctx.original.model,  # what the client asked for, even after a fallback rewrote the request
        ctx.served_model,
        ctx.deployment,
        provider,
        status,
        http_status,
        type(error).__name__ if error is not None else None,
        isinstance(request, (ChatRequest, ForwardRequest)) and request.stream,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_tokens,
        usage.reasoning_tokens,
        usage.estimated,
        (upstream_at - started) * 1000 if upstream_at is not None else None,
        (client_first_byte_at - started) * 1000 if client_first_byte_at is not None else None,
        (finished_at - started) * 1000,
        cost_usd,
        bool(priced) and cost_usd is not None,
        degraded == "cache" or (ctx.cache is not None and ctx.cache.outcome == "hit"),
        degraded,
        ctx.routing.fallback,
        [AttemptRecord(a.deployment, a.provider, a.model, a.status, a.error_type, a.duration_ms)
         for a in ctx.attempts],
        prompt,
        response,
        kept,
        ctx.client_request_id,
        ctx.operation,
    )


def _content(
    ctx: RequestContext, privacy: PrivacyOutcome | None, response_text: str | None
) -> tuple[Any, str | None]:
    """Prompt messages and answer as the privacy stage allows them to be stored."""
    request = ctx.request
    scrub: Callable[[str], str] | None = None
    if privacy is not None:
        request = privacy.redacted
        scrub = privacy.scrub
    if response_text is not None and scrub is not None:
        response_text = scrub(response_text)
    # Message dataclasses are kept as they are: the writer's orjson encodes them natively.
    if isinstance(request, EmbeddingRequest):
        return list(request.inputs), None  # the vectors are no content worth keeping
    if isinstance(request, ForwardRequest):  # the prose sent; an answer may be audio or images
        return request.texts(), None
    return list(request.messages), response_text
