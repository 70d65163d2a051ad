"""What a request will cost before it is sent: the amounts a reservation holds.

Tokens: the prompt counted with the route's tokenizer (tiktoken; the same count the usage
stage falls back on) or four characters a token, whichever is more (a small plain prompt, up to
512 characters, is not tokenized: four characters a token, the learned skew below correcting
it), plus the answer's ceiling, `max_tokens`, or `limits.default_output_tokens`
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
from collections.abc import Iterator
from typing import NamedTuple

from corral.core.context import RequestContext, Work
from corral.core.errors import ModelNotFound
from corral.core.forward import ForwardRequest
from corral.core.tokens import count_request, count_text, encoding_for_model, encoding_ready
from corral.core.types import ChatRequest, EmbeddingRequest
from corral.cost.catalog import ModelPrice
from corral.cost.pricing import Pricer
from corral.cost.units import Units, request_units, unit_rate
from corral.routing.table import Route, RouteTable

LARGE_PROMPT_CHARS = 32_000  # counted on a worker thread: tiktoken takes milliseconds at this size
SMALL_PROMPT_CHARS = 512  # estimated at four characters a token, not tokenized: counting costs more
MILLION = 1_000_000
RATES_TTL_S = 300.0  # prices are dated by day; a route's rates are looked up again this often
SKEW_ALPHA = 0.2  # weight of the newest request in a route's tokenizer skew


class Estimate(NamedTuple):  # one per request, on the hot path
    prompt_tokens: int
    output_tokens: int
    usd: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


def _chars(request: Work) -> tuple[int, bool]:
    """Characters of the prompt's text, and whether it carries more than text (tools, a schema,
    images, tool calls: what four characters a token says little about). One pass."""
    if isinstance(request, EmbeddingRequest):
        return sum(len(t) for t in request.inputs), False
    if isinstance(request, ForwardRequest):  # files (audio, images) are not priced by tokens
        return sum(len(t) for t in request.texts()), False
    chars = 0
    structured = bool(request.tools or request.response_format)
    for m in request.messages:
        if isinstance(m.content, str):
            chars += len(m.content)
        else:
            chars += 256
            structured = True
        if m.tool_calls:
            structured = True
    return chars, structured


def _floor(request: Work, chars: int) -> int:
    """A count no tokenizer is likely to go under: four characters a token (tiktoken packs English
    tighter; Claude's and Gemini's tokenizers, and simple servers, count about this or more)."""
    overhead = 4 * len(request.messages) + 3 if isinstance(request, ChatRequest) else 0
    return -(-chars // 4) + overhead


def _count(request: Work) -> int:
    if isinstance(request, EmbeddingRequest):
        return sum(count_text(t, request.model) for t in request.inputs)
    if isinstance(request, ForwardRequest):
        return sum(count_text(t, request.model) for t in request.texts())
    return count_request(request)


class Estimator:
    def __init__(self, routes: RouteTable, pricer: Pricer, default_output_tokens: int) -> None:
        self.routes = routes
        self.pricer = pricer
        self.default_output_tokens = default_output_tokens
        self._rates: dict[str, tuple[float, float, float]] = {}  # route -> (in, out per token, looked up at)
        self._skew: dict[str, float] = {}  # route -> reported prompt tokens / estimated

    def estimate_now(self, request: Work, route: Route,
                     with_cost: bool) -> Estimate | None:
        """The estimate of a small plain prompt, with no await; None when it must be tokenized."""
        chars, structured = _chars(request)
        if chars > SMALL_PROMPT_CHARS or structured:
            return None
        prompt = math.ceil(_floor(request, chars) * self.skew(route.public_name))
        return self._priced(request, route, prompt, with_cost)

    def _priced(self, request: Work, route: Route, prompt: int,
                with_cost: bool) -> Estimate:
        output = 0
        if isinstance(request, ChatRequest):
            output = request.max_tokens if request.max_tokens is not None else self.default_output_tokens
        elif isinstance(request, ForwardRequest) and request.endpoint == "/completions":
            asked = (request.fields or {}).get("max_tokens")
            output = asked if isinstance(asked, int) and asked > 0 else self.default_output_tokens
        if not with_cost:
            return Estimate(prompt, output, 0.0)
        rate_in, rate_out = self.rates(route)
        usd = prompt * rate_in + output * rate_out
        units = request_units(request) if isinstance(request, ForwardRequest) else None
        if units is not None:  # images and speech are billed per unit: reserve that too
            usd += units.count * self.unit_price(route, units)
        return Estimate(prompt, output, usd)

    def unit_price(self, route: Route, units: Units) -> float:
        """USD per unit: the highest of any deployment the route may use (0: none prices it)."""
        rates = (unit_rate(price.rates.units, units) for price in self._prices(route))
        return max((float(rate) for rate in rates if rate is not None), default=0.0)

    def _prices(self, route: Route) -> Iterator[ModelPrice]:
        """Today's price of every deployment a request on the route may reach (unpriced ones left out)."""
        for candidate in self._reachable(route):
            for dep in candidate.deployments:
                price = self.pricer.price_for_record({
                    "deployment": dep.name, "served_model": dep.model, "model": dep.model,
                    "provider_type": dep.provider.config.type, "created_at": time.time()})
                if price is not None:
                    yield price

    async def estimate(self, ctx: RequestContext, route: Route, with_cost: bool) -> Estimate:
        request = ctx.request
        chars, structured = _chars(request)
        estimate = _floor(request, chars)
        if chars > SMALL_PROMPT_CHARS or structured:  # worth tokenizing: it can matter
            if not encoding_ready(request.model):
                await asyncio.to_thread(encoding_for_model, request.model)  # about a second, once per model
            large = chars > LARGE_PROMPT_CHARS
            estimate = max(estimate, await asyncio.to_thread(_count, request) if large else _count(request))
        prompt = math.ceil(estimate * self.skew(route.public_name))
        return self._priced(request, route, prompt, with_cost)

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
        for price in self._prices(route):
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
