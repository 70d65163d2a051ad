"""The content-policy stage: record provider refusals, optionally retry on a fallback model.

A refusal is the provider judging the prompt, so retrying the same route is useless;
what helps is (a) a record operators can review to fix input validation and (b) an
opt-in fallback model (``content_policy_fallback``) that may accept the request.
Content-filtered answers (``finish_reason == "content_filter"``) are recorded too but
returned unchanged: the client already has a valid, if truncated, response.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Protocol

from corral.config import ModelSettings
from corral.core.context import RequestContext
from corral.core.errors import ContentPolicyViolation, CorralError
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, expect
from corral.governance.policy_events import PolicyEvent, PolicyEventRecorder, prompt_excerpt
from corral.privacy.capture import content_kept, stored_copy

log = logging.getLogger("corral.governance")

CONTENT_FILTER = "content_filter"
FALLBACK_HEADER = "x-corral-fallback"


class RouteLike(Protocol):
    public_name: str
    settings: ModelSettings | None


class RouteLookup(Protocol):
    """What the stage needs of the route table (``RouteTable`` satisfies it)."""

    def resolve(self, ctx: RequestContext) -> RouteLike: ...

    def lookup(self, model: str) -> RouteLike: ...


class ContentPolicyStage:
    name = "content_policy"

    def __init__(self, routes: RouteLookup, recorder: PolicyEventRecorder, *,
                 capture_content: bool = False) -> None:
        self.routes = routes
        self.recorder = recorder
        self.capture_content = capture_content  # observability.capture_content: see privacy.capture
        self.counters: Counter[str] = Counter()  # violations, content_filter, fallbacks
        self.by_category: Counter[str] = Counter()

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        try:
            result = await call_next(ctx)
        except ContentPolicyViolation as exc:
            self._violation(ctx, exc)
            found = self._fallback_for(ctx)
            if found is None:
                raise
            fallback, route = found
            self.counters["fallbacks"] += 1
            ctx.request = dataclasses.replace(ctx.request, model=fallback)
            ctx.route, ctx.public_model = route, route.public_name
            ctx.response_headers[FALLBACK_HEADER] = "content_policy"
            ctx.degraded = "content_policy_fallback"
            ctx.content_policy_fallback = fallback
            try:
                result = await call_next(ctx)  # once: a second refusal goes to the client
            except ContentPolicyViolation as again:
                self._violation(ctx, again)
                raise
        if isinstance(result, ChatResponse):
            if result.finish_reason == CONTENT_FILTER:
                self._content_filtered(ctx, stream=False)
            return result
        return expect(result, ChatStream).map(lambda chunks: self._watch(ctx, chunks))  # chat only

    def _fallback_for(self, ctx: RequestContext) -> tuple[str, RouteLike] | None:
        """The route's configured fallback model and its route, unless it is the route itself."""
        try:
            route = self.routes.resolve(ctx)
            fallback = route.settings.content_policy_fallback if route.settings else None
            if not fallback or fallback in (route.public_name, ctx.request.model):
                return None
            return fallback, self.routes.lookup(fallback)
        except CorralError:
            return None

    async def _watch(self, ctx: RequestContext, chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        """Record mid-stream refusals and content-filter finishes; chunks pass unchanged."""
        try:
            async for chunk in chunks:
                if chunk.finish_reason == CONTENT_FILTER:
                    self._content_filtered(ctx, stream=True)
                yield chunk
        except ContentPolicyViolation as exc:
            self._violation(ctx, exc)  # too late to fall back: chunks already left
            raise

    def _violation(self, ctx: RequestContext, exc: ContentPolicyViolation) -> None:
        category = exc.category or exc.code or "content_policy_violation"
        self.counters["violations"] += 1
        self._record(ctx, category, exc.message, provider=exc.provider or None)

    def _content_filtered(self, ctx: RequestContext, *, stream: bool) -> None:
        self.counters[CONTENT_FILTER] += 1
        message = "The provider stopped the answer with finish_reason 'content_filter'."
        self._record(ctx, CONTENT_FILTER, message, provider=None, stream=stream)

    def _record(
        self, ctx: RequestContext, category: str, message: str, *, provider: str | None,
        stream: bool | None = None,
    ) -> None:
        self.by_category[category] += 1
        caller = ctx.caller
        if provider is None and ctx.attempts:
            provider = ctx.attempts[-1].provider
        scrub = ctx.privacy.scrub if ctx.privacy is not None else (lambda text: text)
        # The same rule as request records: an excerpt only with capture on, as privacy left it.
        kept = content_kept(ctx, self.capture_content)
        excerpt = prompt_excerpt(expect(stored_copy(ctx), ChatRequest).messages) if kept else None
        event = PolicyEvent(
            request_id=ctx.request_id,
            route=ctx.public_model or ctx.request.model,
            category=category,
            message=scrub(message),
            stream=expect(ctx.request, ChatRequest).stream if stream is None else stream,
            key_id=caller.key_id if caller else None,
            team=caller.team if caller else None,
            deployment=ctx.deployment,
            provider=provider,
            prompt_excerpt=excerpt,
        )
        if not self.recorder.record(event):
            log.debug("policy event for request %s dropped: recorder queue full", ctx.request_id)
