"""The context stage: make the prompt fit the model's window instead of collecting a 400.

Before the request goes on, its prompt is counted against the route's window minus the
tokens reserved for the answer. The window is the *smallest* among the route's
top-priority deployments (the tier the router tries first), so the prompt fits whichever
of them is picked; lower tiers and fallback routes are handled by the router through
`ctx.routing.min_context_window`. The reserve is `context.reserve_output_tokens`, or the
request's `max_tokens` when that is larger (providers reject prompt + max_tokens > window).

When the prompt does not fit, the route's `context.policy` decides:
  fallback   ask the router for a deployment with a large enough window;
  truncate   drop the oldest turns (`corral.context.fit.truncate`);
  summarize  condense them with the summarizer model (`fit.summarize`), truncating instead
             if the summarizer fails, so the client still gets an answer;
  error      a 400 that states the counts and names the other policies.
If the provider still answers with a context-length error (its tokenizer counts more than
ours), the policy is applied once more with a tighter budget, then the error stands.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from corral.config import ContextSettings
from corral.context.fit import Counter, summarize, truncate
from corral.context.windows import effective_window, prompt_limit
from corral.core.context import ContextFit, RequestContext
from corral.core.errors import (
    AllProvidersFailed,
    ContextLengthExceeded,
    CorralError,
    ModelNotFound,
    UpstreamContextLength,
    UpstreamError,
)
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream, Tally
from corral.core.tokens import count_request, encoding_for_model, encoding_ready
from corral.core.types import ChatRequest, ChatResponse, ImagePart, Usage, expect
from corral.routing.table import Deployment, Route, RouteTable

logger = logging.getLogger("corral.context")

CONTEXT_HEADER = "x-corral-context"
IMAGE_MAX_TOKENS = 765  # the most `count_request` charges for one image
LARGE_PROMPT_BYTES = 256_000  # count bigger prompts on a worker thread, off the event loop
SUMMARIZER_ALLOWANCE = 768  # summarizer instructions + the question excerpt, in tokens
REPLY_PRIMING = 3  # what count_request charges for a request with no messages, tools or schema
RETRY_SHRINK = 0.8  # provider counted more than we did, by an unknown amount: aim 20% lower


def primary_tier(route: Route) -> list[Deployment]:
    """The deployments the router tries first (the lowest priority value)."""
    top = min(d.priority for d in route.deployments)
    return [d for d in route.deployments if d.priority == top]


def _counter(model: str) -> Counter:
    """count_request with `model`'s tokenizer (the upstream name, not the public alias)."""

    def count(request: ChatRequest) -> int:
        return count_request(replace(request, model=model))

    return count


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def upper_bound(request: ChatRequest, count: Counter) -> int:
    """A cheap bound on count(request): a BPE token covers at least one byte of text."""
    if request.tools or request.response_format:
        n = count(replace(request, messages=[]))  # reply priming, tool definitions, JSON schema
    else:
        n = REPLY_PRIMING
    for m in request.messages:
        n += 3 + _bytes(m.role) + _bytes(m.text())
        if isinstance(m.content, list):
            n += IMAGE_MAX_TOKENS * sum(isinstance(p, ImagePart) for p in m.content)
        if m.name:
            n += _bytes(m.name) + 1
        for call in m.tool_calls or ():
            n += 3 + _bytes(call.name) + _bytes(call.arguments)
    return n


@dataclass(slots=True)
class _Plan:
    route: Route
    settings: ContextSettings
    window: int  # smallest window of the top tier
    reserve: int
    limit: int  # tokens the prompt may use
    count: Counter
    tokenizer: str  # the model whose tokenizer counts (the top tier's first deployment)


def _context_error(exc: UpstreamError) -> UpstreamContextLength | None:
    if isinstance(exc, UpstreamContextLength):
        return exc
    if isinstance(exc, AllProvidersFailed):
        for err in exc.provider_errors.values():
            if isinstance(err, UpstreamContextLength):
                return err
    return None


async def _collect(stream: ChatStream, model: str) -> ChatResponse:
    """A streamed answer as one response (only if a later stage ignored stream=False)."""
    tally = Tally()
    async for chunk in stream:
        tally.add(chunk)
    return tally.response("summary", model)


class ContextStage:
    name = "context"

    def __init__(self, routes: RouteTable, *, summary_tokens: int = 512, concurrency: int = 4):
        self.routes = routes
        self.summary_tokens = summary_tokens  # max_tokens of each summarizer call
        self.concurrency = concurrency  # summarizer calls in flight per request

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        request = expect(ctx.request, ChatRequest)  # a chat-only stage
        plan = self._plan(ctx)
        if plan is None:  # unknown model: the router answers with the 404
            return await call_next(ctx)
        if not await self._fits(request, plan):
            await self._apply(ctx, call_next, plan, plan.limit, failing_window=None)
        try:
            return await call_next(ctx)
        except UpstreamError as exc:
            # Raised before any chunk was sent, so retrying cannot duplicate output.
            err = _context_error(exc)
            if err is None:
                raise
            tokens = await self._count(expect(ctx.request, ChatRequest), plan)
            limit = self._tighter_limit(err, tokens, plan)
            logger.info("request %s: provider says the prompt is too long (%s tokens by our count); "
                        "applying context policy %r once more", ctx.request_id, tokens, plan.settings.policy)
            failing = self._failing_window(ctx, plan, err)
            await self._apply(ctx, call_next, plan, limit, failing_window=failing, cause=err)
        return await call_next(ctx)  # outside the try: a second provider refusal is final

    # -- measuring --------------------------------------------------------------------------

    def _plan(self, ctx: RequestContext) -> _Plan | None:
        request = expect(ctx.request, ChatRequest)
        try:
            route = self.routes.resolve(ctx)
        except ModelNotFound:
            return None
        if not route.deployments:
            return None
        settings = route.settings.context if route.settings is not None else ContextSettings()
        reserve = max(settings.reserve_output_tokens, request.max_tokens or 0)
        tier = primary_tier(route)
        return _Plan(
            route=route, settings=settings, window=min(effective_window(d) for d in tier),
            reserve=reserve, limit=min(prompt_limit(d, reserve) for d in tier),
            count=_counter(tier[0].model), tokenizer=tier[0].model,
        )

    @staticmethod
    async def _tokenizer(plan: _Plan) -> None:
        """Build the tokenizer on first use off the event loop (about a second and 30-75 MB,
        which is why it is built only for a request that needs counting)."""
        if not encoding_ready(plan.tokenizer):
            await asyncio.to_thread(encoding_for_model, plan.tokenizer)

    async def _count(self, request: ChatRequest, plan: _Plan) -> int:
        await self._tokenizer(plan)
        if sum(_bytes(m.text()) for m in request.messages) > LARGE_PROMPT_BYTES:
            return await asyncio.to_thread(plan.count, request)
        return plan.count(request)

    async def _fits(self, request: ChatRequest, plan: _Plan) -> bool:
        if request.tools or request.response_format:  # upper_bound counts their definitions
            await self._tokenizer(plan)
        if upper_bound(request, plan.count) <= plan.limit:
            return True  # most requests: no tokenizing at all
        return await self._count(request, plan) <= plan.limit

    @staticmethod
    def _tighter_limit(err: UpstreamContextLength, tokens: int, plan: _Plan) -> int:
        """A budget below what the provider refused, scaled by its own count when it gave one."""
        limit = min(plan.limit, int(tokens * RETRY_SHRINK))
        theirs, window = err.prompt_tokens, err.context_window
        if isinstance(theirs, int) and isinstance(window, int) and theirs > 0:
            limit = min(plan.limit, int((window - plan.reserve) * tokens / theirs * 0.95))
        return max(0, min(limit, tokens - 1))

    @staticmethod
    def _failing_window(ctx: RequestContext, plan: _Plan, err: UpstreamContextLength) -> int:
        reported = err.context_window
        if isinstance(reported, int) and reported > 0:
            return reported
        for d in plan.route.deployments:
            if d.name == ctx.deployment:
                return effective_window(d)
        return plan.window

    # -- policies ---------------------------------------------------------------------------

    async def _apply(self, ctx: RequestContext, call_next: Next, plan: _Plan, limit: int,
                     failing_window: int | None, cause: UpstreamContextLength | None = None) -> None:
        """Make ctx.request acceptable under `limit` prompt tokens, or raise."""
        policy = plan.settings.policy
        request = expect(ctx.request, ChatRequest)
        tokens = await self._count(request, plan)
        info = {"before": tokens, "window": plan.window, "reserve": plan.reserve, "limit": limit}
        if policy == "error":
            message = self._error_message(plan, tokens, limit, cause)
            raise ContextLengthExceeded(message, param="messages")
        if policy == "fallback":
            need = tokens + plan.reserve
            if failing_window is not None:
                need = max(need, failing_window + 1)
            routing = ctx.routing
            routing.min_context_window = max(routing.min_context_window, need)
            ctx.fit = ContextFit("fallback", {**info, "min_context_window": routing.min_context_window})
            return
        window = limit + plan.reserve
        fit = ContextFit("truncated", info)
        if policy == "summarize":
            try:
                new = await self._summarize(ctx, call_next, plan, window, fit)
                fit.action = "summarized"
            except CorralError as exc:  # the summarizer failed: answer from the newest turns
                logger.warning("request %s: summarizing failed (%s); truncating instead",
                               ctx.request_id, exc.message)
                fit.summarize_error = exc.message
                new = await self._off_loop(request, lambda: truncate(request, window, plan.reserve,
                                                                     plan.count))
        else:
            new = await self._off_loop(request, lambda: truncate(request, window, plan.reserve, plan.count))
        after = await self._count(new, plan)
        logger.info("request %s: prompt %s -> %s tokens (%s; limit %s)", ctx.request_id, tokens, after,
                    fit.action, limit)
        ctx.request = new
        fit.tokens = {**info, "after": after}
        ctx.fit = fit
        ctx.response_headers[CONTEXT_HEADER] = fit.action

    async def _off_loop(self, request: ChatRequest, work: Callable[[], ChatRequest]) -> ChatRequest:
        if sum(_bytes(m.text()) for m in request.messages) > LARGE_PROMPT_BYTES:
            return await asyncio.to_thread(work)
        return work()

    def _error_message(self, plan: _Plan, tokens: int, limit: int,
                       cause: UpstreamContextLength | None) -> str:
        name = plan.route.public_name
        where = f"The provider rejected the prompt as too long ({cause.message}). " if cause else ""
        return (
            f"{where}The prompt is {tokens} tokens, but model '{name}' has a context window of "
            f"{plan.window} tokens with {plan.reserve} reserved for the answer "
            f"(context.reserve_output_tokens or max_tokens), leaving {limit} tokens for the prompt. "
            f"Shorten the conversation, or set models.{name}.context.policy to 'truncate' (drop the "
            "oldest turns), 'summarize' (condense them) or 'fallback' (use a model with a larger window)."
        )

    async def _summarize(self, ctx: RequestContext, call_next: Next, plan: _Plan, window: int,
                         fit: ContextFit) -> ChatRequest:
        """Rewrite ctx.request with fit.summarize, each summarizer call going through call_next
        as a child request (its own route; its attempts and cost land in this request's record)."""
        model = plan.settings.summarize_model or plan.route.public_name
        try:
            summarizer = self.routes.lookup(model)
        except ModelNotFound:
            summarizer = plan.route
        room = min(prompt_limit(d, self.summary_tokens) for d in primary_tier(summarizer))
        chunk_tokens = max(64, int((room - SUMMARIZER_ALLOWANCE) * 0.9))  # 10% for tokenizer skew
        numbers = itertools.count(1)
        usage = Usage(estimated=False)

        async def call(sub: ChatRequest) -> ChatResponse:
            sub_ctx = ctx.child(f"sum{next(numbers)}", replace(sub, model=model, stream=False,
                                                               include_usage=False), route=summarizer)
            result = await call_next(sub_ctx)
            response = (await _collect(result, model) if isinstance(result, ChatStream)
                        else expect(result, ChatResponse))
            if response.usage is not None:
                usage.input_tokens += response.usage.input_tokens
                usage.output_tokens += response.usage.output_tokens
                usage.estimated = usage.estimated or response.usage.estimated
            return response

        try:
            return await summarize(expect(ctx.request, ChatRequest), window, plan.reserve, plan.count, call,
                                   chunk_tokens, summary_tokens=self.summary_tokens,
                                   concurrency=self.concurrency)
        finally:
            fit.summary_calls = next(numbers) - 1
            fit.summary_usage = usage
