"""What a request will cost before it is sent: the amounts a reservation holds.

Tokens: the prompt counted with the route's tokenizer (tiktoken; the same count the usage
stage falls back on) plus the answer's ceiling, `max_tokens`, or `limits.default_output_tokens`
when the client set none. Dollars: those tokens at the highest per-token rates of every model
the request may end up on (the route's deployments, its fallbacks, its content-policy fallback
and its summarizer), at the catalog's highest tier. The estimate is meant to be at or above
what the request really costs, so that reservations, not settlements, are what stop spending
at the budget: a request that writes more than its reservation (no max_tokens, a long answer)
is the one way a budget can be overshot, by that request's excess.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from corral.core.context import RequestContext
from corral.core.errors import ModelNotFound
from corral.core.tokens import count_request, count_text, encoding_for_model, encoding_ready
from corral.core.types import ChatRequest, EmbeddingRequest
from corral.cost.pricing import Pricer
from corral.routing.table import Route, RouteTable

LARGE_PROMPT_CHARS = 32_000  # counted on a worker thread: tiktoken takes milliseconds at this size
MILLION = 1_000_000
RATES_TTL_S = 300.0  # prices are dated by day; a route's rates are looked up again this often
SKEW_ALPHA = 0.2  # weight of the newest request in a route's tokenizer skew


@dataclass(frozen=True, slots=True)
class Estimate:
    prompt_tokens: int
    output_tokens: int
    usd: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


def _chars(request: ChatRequest | EmbeddingRequest) -> int:
    if isinstance(request, EmbeddingRequest):
        return sum(len(t) for t in request.inputs)
    return sum(len(m.content) if isinstance(m.content, str) else 256 for m in request.messages)


def _floor(request: ChatRequest | EmbeddingRequest, chars: int) -> int:
    """A count no tokenizer is likely to go under: four characters a token (tiktoken packs English
    tighter; Claude's and Gemini's tokenizers, and simple servers, count about this or more)."""
    overhead = 0 if isinstance(request, EmbeddingRequest) else 4 * len(request.messages) + 3
    return -(-chars // 4) + overhead


def _count(request: ChatRequest | EmbeddingRequest) -> int:
    if isinstance(request, EmbeddingRequest):
        return sum(count_text(t, request.model) for t in request.inputs)
    return count_request(request)


class Estimator:
    def __init__(self, routes: RouteTable, pricer: Pricer, default_output_tokens: int) -> None:
        self.routes = routes
        self.pricer = pricer
        self.default_output_tokens = default_output_tokens
        self._rates: dict[str, tuple[float, float, float]] = {}  # route -> (in, out per token, looked up at)
        self._skew: dict[str, float] = {}  # route -> reported prompt tokens / estimated

    async def estimate(self, ctx: RequestContext, route: Route, with_cost: bool) -> Estimate:
        request = ctx.request
        if not encoding_ready(request.model):
            await asyncio.to_thread(encoding_for_model, request.model)  # about a second, once per model
        chars = _chars(request)
        counted = await asyncio.to_thread(_count, request) if chars > LARGE_PROMPT_CHARS else _count(request)
        prompt = math.ceil(max(counted, _floor(request, chars)) * self.skew(route.public_name))
        output = 0
        if isinstance(request, ChatRequest):
            output = request.max_tokens if request.max_tokens is not None else self.default_output_tokens
        usd = 0.0
        if with_cost:
            rate_in, rate_out = self.rates(route)
            usd = prompt * rate_in + output * rate_out
        return Estimate(prompt, output, usd)

    def skew(self, route: str) -> float:
        """How much more the route's provider has been counting than estimated (1: not more)."""
        return max(1.0, self._skew.get(route, 1.0))

    def learn(self, route: str, estimated_prompt: int, reported_input: int) -> None:
        """Follow the route's provider tokenizer: a moving average of its reported prompt tokens
        over the estimate, so a route that counts 20% more gets reservations 20% larger."""
        if estimated_prompt <= 0 or reported_input <= 0:
            return
        ratio = reported_input * self.skew(route) / estimated_prompt  # the unskewed estimate's ratio
        previous = self._skew.get(route)
        self._skew[route] = ratio if previous is None else previous + SKEW_ALPHA * (ratio - previous)

    def rates(self, route: Route) -> tuple[float, float]:
        """USD per input and per output token: the highest of any model the route may use."""
        cached = self._rates.get(route.public_name)
        now = time.monotonic()
        if cached is not None and now - cached[2] < RATES_TTL_S:
            return cached[0], cached[1]
        rate_in = rate_out = 0.0
        for candidate in self._reachable(route):
            for dep in candidate.deployments:
                price = self.pricer.price_for_record({
                    "deployment": dep.name, "served_model": dep.model, "model": dep.model,
                    "provider_type": dep.provider.config.type, "created_at": time.time()})
                if price is None:
                    continue
                rates = price.rates_for(10 * MILLION)  # the highest tier: an upper bound
                rate_in = max(rate_in, float(rates.input) / MILLION)
                rate_out = max(rate_out, float(rates.reasoning or rates.output) / MILLION,
                               float(rates.output) / MILLION)
        self._rates[route.public_name] = (rate_in, rate_out, now)
        return rate_in, rate_out

    def _reachable(self, route: Route) -> list[Route]:
        """The route and every route a request on it may be answered or summarized by."""
        seen = {route.public_name: route}
        pending = [route]
        while pending:
            current = pending.pop()
            settings = current.settings
            if settings is None:
                continue
            names = [*settings.fallbacks, settings.content_policy_fallback, settings.context.summarize_model]
            for name in names:
                if name is None:
                    continue
                try:
                    other = self.routes.lookup(name)
                except ModelNotFound:  # a name the config check vetted, gone in a test table
                    continue
                if other.public_name not in seen:
                    seen[other.public_name] = other
                    pending.append(other)
        return list(seen.values())
