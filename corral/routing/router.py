"""The terminal handler: attempts, retries, fallbacks and degradation for one request.

The try order is the route's deployments (priority tiers, then weights and recent
latency), then each fallback route's. A retryable failure (429, 5xx, 529, timeout,
connection error) moves on to the next candidate at once; when the candidates are
exhausted the list is tried again after a full-jitter backoff that honours
Retry-After. Failing over to another deployment is free; trying one again spends the
route's retry budget, so an outage cannot become a retry storm. Every attempt counts
against the request's attempt limit and its overall deadline. Deployments whose breaker is open
are skipped. When everything failed: an identical cached answer, then the route's
graceful message, both marked degraded; otherwise `AllProvidersFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import NoReturn, Protocol, TypeVar

from corral.config import ModelSettings
from corral.context.windows import effective_window
from corral.core.context import RequestContext
from corral.core.errors import (
    AllProvidersFailed,
    ContextLengthExceeded,
    CorralError,
    UnsupportedParameter,
    UpstreamError,
    UpstreamRejected,
)
from corral.core.forward import ForwardRequest
from corral.core.pipeline import Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Usage, expect
from corral.routing.attempt import run_attempt
from corral.routing.backoff import is_retryable, retry_delay
from corral.routing.breaker import CircuitBreaker
from corral.routing.budget import RetryBudget
from corral.routing.selection import LatencyTracker, order_deployments
from corral.routing.table import Deployment, Route, RouteTable
from corral.store.kv import KV, KVUnavailable

log = logging.getLogger("corral.routing")
T = TypeVar("T")
class FallbackSource(Protocol):
    """Something that may stand in for a chat answer when every deployment failed (the exact
    cache does); asked in order, the first answer wins, marked degraded."""

    name: str

    async def fallback_answer(self, ctx: RequestContext) -> ChatResponse | None: ...
DEFAULT_SETTINGS = ModelSettings(deployments=[{"provider": "-", "model": "-"}])  # type: ignore[list-item]


class Router:
    def __init__(self, table: RouteTable, kv: KV, *, rng: random.Random | None = None,
                 fallback_sources: Sequence[FallbackSource] = ()):
        self.table = table
        self.kv = kv
        self.rng = rng or random.Random()
        self.latency = LatencyTracker()
        self.fallback_sources = tuple(fallback_sources)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._budgets: dict[str, RetryBudget] = {}

    def breaker(self, route: Route) -> CircuitBreaker:
        if route.public_name not in self._breakers:
            self._breakers[route.public_name] = CircuitBreaker(self.kv, _settings(route).breaker)
        return self._breakers[route.public_name]

    def budget(self, route: Route) -> RetryBudget:
        if route.public_name not in self._budgets:
            self._budgets[route.public_name] = RetryBudget(self.kv, route.public_name, _settings(route).retry)
        return self._budgets[route.public_name]

    async def __call__(self, ctx: RequestContext) -> Result:
        route = self.table.resolve(ctx)
        settings = _settings(route)
        deadline = time.monotonic() + settings.timeouts.total_s
        budget = self.budget(route)
        await _fail_open(budget.record_request(), None)
        candidates, suspect = await self._candidates(ctx, route)
        candidates = _pinned(ctx, route, candidates)
        errors: dict[str, UpstreamError] = {}
        last: UpstreamError | None = None
        for number in range(settings.retry.max_attempts):
            hop, deployment = candidates[number % len(candidates)]
            if last is not None and number >= len(candidates):
                # Trying a deployment again (not failing over): costs retry budget and a backoff.
                if not await self._may_retry(budget, ctx):
                    break
                delay = retry_delay(last, number, settings.retry, self.rng)
                if time.monotonic() + delay >= deadline:
                    ctx.routing.retry_stopped = "deadline"
                    break
                await asyncio.sleep(delay)
            breaker = self.breaker(hop)
            # Closed a moment ago (when the list was made): skip the extra KV read. Only an
            # open or half-open breaker needs allow(), which also takes a probe slot.
            suspected = deployment.name in suspect
            allowed = not suspected or await _fail_open(breaker.allow(deployment.name), True)
            if not allowed and (errors or number + 1 < len(candidates)):
                continue  # open, or its probe slots are taken; the last resort is probed anyway
            try:
                result = await run_attempt(ctx, deployment, _settings(hop).timeouts, deadline,
                                           _settings(hop).unsupported_params)
            except UpstreamError as exc:
                if ctx.routing.native_batch is not None:
                    raise  # the provider's batch answered this line: final, and no sign of live health
                healthy = not is_retryable(exc)  # a 4xx answer says the deployment is up
                await _fail_open(breaker.record(deployment.name, healthy, was_closed=not suspected), None)
                if isinstance(exc, UpstreamRejected):
                    raise  # the request itself is wrong: no other deployment will take it
                errors[deployment.name] = last = exc
                if time.monotonic() >= deadline:
                    break
                continue
            if ctx.routing.native_batch is None:  # a batch's answer says nothing of live latency
                await _fail_open(breaker.record(deployment.name, True, was_closed=not suspected), None)
                self.latency.observe(deployment.name, ctx.attempts[-1].duration_ms / 1000)
            self._mark_served(ctx, route, hop, deployment, candidates)
            return result
        return await self._degrade(ctx, route, errors)

    async def _may_retry(self, budget: RetryBudget, ctx: RequestContext) -> bool:
        if await _fail_open(budget.try_spend(), True):
            return True
        ctx.routing.retry_stopped = "budget"
        return False

    async def _candidates(
        self, ctx: RequestContext, route: Route
    ) -> tuple[list[tuple[Route, Deployment]], set[str]]:
        """Every deployment worth trying, in order, across the route and its fallbacks.

        Deployments whose breaker is open go last: tried only when nothing else is left.
        """
        chain = [route, *(self.table.lookup(name) for name in _settings(route).fallbacks)]
        min_window = ctx.routing.min_context_window
        healthy: list[tuple[Route, Deployment]] = []
        tripped: list[tuple[Route, Deployment]] = []
        suspect: set[str] = set()  # not closed when read: ask the breaker before each attempt
        forward = isinstance(ctx.request, ForwardRequest)
        for hop in chain:
            deployments = [d for d in hop.deployments
                           if (not min_window or effective_window(d) >= min_window)
                           and (not forward or d.provider.capabilities.forward)]
            states = await _fail_open(self.breaker(hop).states(d.name for d in deployments), {})
            open_names = {name for name, state in states.items() if state == "open"}
            suspect.update(name for name, state in states.items() if state != "closed")
            suspect.update(d.name for d in deployments if d.name not in states)  # KV unavailable
            for dep in order_deployments(deployments, self.latency, self.rng, excluded=open_names):
                (tripped if dep.name in open_names else healthy).append((hop, dep))
        if not healthy and not tripped and isinstance(ctx.request, ForwardRequest):
            raise UnsupportedParameter(
                f"No deployment of '{route.public_name}' or its fallbacks can serve "
                f"/v1{ctx.request.endpoint}: Corral passes it through only to OpenAI-compatible "
                "deployments (openai, azure, vllm, ollama, llamacpp, openai-compatible). Use a model "
                "whose route has one.", param="model")
        if not healthy and not tripped:
            raise ContextLengthExceeded(
                f"No deployment of '{route.public_name}' or its fallbacks has a context window of "
                f"{min_window} tokens. Shorten the prompt or set context.policy to truncate or summarize.",
                param="messages",
            )
        if tripped:
            ctx.routing.breaker_open = [d.name for _, d in tripped]
        return healthy + tripped, suspect

    def _mark_served(self, ctx: RequestContext, route: Route, hop: Route, dep: Deployment,
                     candidates: list[tuple[Route, Deployment]]) -> None:
        headers = ctx.response_headers
        headers["x-corral-attempts"] = str(len(ctx.attempts))
        changed = [*(ctx.routing.dropped_params or ()), *(ctx.routing.translated_params or ())]
        if changed:  # the route's unsupported_params policy at work: never silent
            headers["x-corral-dropped-params"] = ",".join(changed)
        if hop is not route:
            headers["x-corral-fallback"] = "model"
            ctx.routing.fallback = hop.public_name
        elif dep is not candidates[0][1]:
            headers["x-corral-fallback"] = "deployment"
            ctx.routing.fallback = dep.name

    async def _degrade(self, ctx: RequestContext, route: Route, errors: dict[str, UpstreamError]) -> Result:
        settings = _settings(route)
        ctx.response_headers["x-corral-attempts"] = str(len(ctx.attempts))
        if ctx.operation != "chat":  # a cached or canned answer stands in for a chat reply only
            return self._failed(route, errors)
        if settings.cache_fallback:
            for source in self.fallback_sources:
                answer = await source.fallback_answer(ctx)
                if answer is not None:
                    return self._degraded(ctx, answer, source.name)
        if settings.degraded_message is not None:
            text = settings.degraded_message
            return self._degraded(ctx, ChatResponse(id="", model=route.public_name, content=text), "message")
        return self._failed(route, errors)

    @staticmethod
    def _failed(route: Route, errors: dict[str, UpstreamError]) -> NoReturn:
        if not errors:
            raise CorralError(f"No deployment of '{route.public_name}' could be tried.")
        if len(errors) == 1:
            raise next(iter(errors.values()))
        raise AllProvidersFailed(errors)

    def _degraded(self, ctx: RequestContext, response: ChatResponse, kind: str) -> Result:
        ctx.response_headers["x-corral-degraded"] = kind
        ctx.degraded = kind
        response.usage = Usage()  # nothing was generated (or billed) for this answer
        if not expect(ctx.request, ChatRequest).stream:  # degraded answers stand in for chat only
            return response
        return ChatStream(_as_chunks(response), model=response.model)


async def _as_chunks(response: ChatResponse) -> AsyncIterator[ChatChunk]:
    if response.content:
        yield ChatChunk(content=response.content)
    yield ChatChunk(finish_reason=response.finish_reason or "stop")
    yield ChatChunk(usage=response.usage)


def _pinned(ctx: RequestContext, route: Route,
            candidates: list[tuple[Route, Deployment]]) -> list[tuple[Route, Deployment]]:
    """A batch line picking up its answer from a provider's batch goes to the deployment
    whose batch holds it, whatever the selection would say (corral.core.deferred)."""
    name = ctx.deferred.pinned if ctx.deferred is not None else None
    if name is None or ctx.routing.native_batch is not None:
        return candidates  # not pinned; or answered already, and a stage sends it elsewhere live
    pinned = [c for c in candidates if c[1].name == name]
    if not pinned:
        raise CorralError(f"The provider's batch answered this request through deployment '{name}', "
                          f"which route '{route.public_name}' no longer has; its answer cannot be read.")
    return pinned


def _settings(route: Route) -> ModelSettings:
    return route.settings or DEFAULT_SETTINGS


async def _fail_open(operation: Awaitable[T], fallback: T) -> T:
    """Shared-state calls (Redis) must not take requests down with them: fail open."""
    try:
        return await operation
    except KVUnavailable as exc:
        log.warning("routing state unavailable (%s); continuing without it", type(exc).__name__)
        return fallback
