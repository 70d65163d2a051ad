"""The planner's arithmetic: pure functions from a `Plan` to costs, break-evens and savings.

Why pure: every figure in docs/cost.md's worked example is checked by hand and by a test,
so nothing here reads a clock, a file or a database; the price date and the catalog
come in as arguments.

The model (docs/cost.md, "Planning"):

* volumes: the P50 day is the plan's typical day; the P99 day is that times
  `peak_to_typical` (from records: the 99th-percentile day over the median day); "10x"
  is ten typical days' traffic in one day. A month is 30 such days.
* API cost: a day's tokens priced exactly like recorded requests (`price_tokens`), the
  cache-hit share of the prompt at the cached-input price.
* self-hosted cost: replicas x GPU $/h x 24, where replicas cover the busiest hour
  (`peak_hour_share` of the day's tokens in 3,600 s) at `utilization` of each replica's
  throughput, and never fall below the plan's minimum.
* break-even: API cost grows with every request, self-hosted cost in steps of one
  replica, so the two cross more than once; we report the first volume at which
  self-hosting is cheaper and the volume from which it stays cheaper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from corral.cost.catalog import RATE_FIELDS, PriceCatalog, load_batch_factors
from corral.cost.plan_model import Candidate, Plan, PlanError, SelfHosted
from corral.cost.pricing import price_tokens
from corral.cost.rates import Rates

DAYS_PER_MONTH = 30
HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600
_EPS = 1e-9  # float noise must not buy an extra replica
_PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str  # P50 | P99 | 10x
    name: str  # P50 day | P99 day | 10x usage
    requests_per_day: float


@dataclass(frozen=True, slots=True)
class Usage:
    """Mean tokens per request the costs are computed with (after any what-if)."""

    prompt_tokens: float
    response_tokens: float
    cache_hit_rate: float


@dataclass(frozen=True, slots=True)
class CandidateCost:
    label: str
    kind: str  # api | self-hosted
    per_day: tuple[float, ...]  # one per scenario, USD
    replicas: tuple[int, ...] = ()  # self-hosted: one per scenario
    detail: str = ""  # the price or capacity used, for the reader
    per_request: float = 0.0  # api: USD per request
    replica_day: float = 0.0  # self-hosted: USD per replica-day
    requests_per_replica: float = math.inf  # self-hosted: requests/day one replica carries
    min_replicas: int = 1

    def at(self, requests: float) -> float:
        """USD per day at `requests` per day (for curves: linear for APIs, steps for GPUs)."""
        if self.kind == "api":
            return self.per_request * requests
        replicas = max(self.min_replicas, math.ceil(requests / self.requests_per_replica - _EPS))
        return replicas * self.replica_day

    @property
    def per_month(self) -> tuple[float, ...]:
        return tuple(d * DAYS_PER_MONTH for d in self.per_day)


@dataclass(frozen=True, slots=True)
class BreakEven:
    self_hosted: str
    api: str
    first_cheaper: float | None  # requests/day at which self-hosting first costs less
    always_cheaper: float | None  # requests/day from which it costs less at every volume


@dataclass(frozen=True, slots=True)
class Saving:
    label: str
    change: str  # "cache hit rate 50%" | "prompt x0.7"
    per_month_before: float
    per_month_after: float

    @property
    def saved(self) -> float:
        return self.per_month_before - self.per_month_after


@dataclass(frozen=True, slots=True)
class PlanResult:
    name: str
    price_date: date
    usage: Usage
    scenarios: tuple[Scenario, ...]
    costs: tuple[CandidateCost, ...]
    break_evens: tuple[BreakEven, ...]
    savings: tuple[Saving, ...]


def scenarios(plan: Plan) -> tuple[Scenario, ...]:
    typical = plan.traffic.typical_requests_per_day
    return (Scenario("P50", "P50 day", typical),
            Scenario("P99", "P99 day", typical * plan.traffic.peak_to_typical),
            Scenario("10x", "10x usage", typical * 10))


def candidate_rates(candidate: Candidate, catalog: PriceCatalog, at: date, prompt_tokens: float) -> Rates:
    """The API rates for a request of this prompt length (tiers apply; batch share applied), or PlanError."""
    provider_type = candidate.provider_type
    if candidate.price is not None:
        rates = candidate.price.rates()
    else:
        price = catalog.price_for(provider_type, candidate.model, at)
        if price is None:
            raise PlanError(f"candidates: no catalog price for {candidate.model!r} on {at.isoformat()}; "
                            "give it a price: (input_per_mtok, output_per_mtok, cached_input_per_mtok)")
        rates = price.rates_for(int(prompt_tokens))
        provider_type = provider_type or next(iter(price.provider_types), None)
    if not candidate.batch:
        return rates
    factor = load_batch_factors().get(provider_type or "")
    if factor is None:
        raise PlanError(f"candidates: {candidate.label!r} has batch: true, but provider type "
                        f"{provider_type!r} has no batch price (prices.json `batch`)")
    scaled = {name: getattr(rates, name) * factor for name in RATE_FIELDS if getattr(rates, name) is not None}
    return replace(rates, **scaled)


def api_cost_per_day(rates: Rates, usage: Usage, requests: float) -> float:
    """A day's tokens priced as recorded requests are (so the plan and the bill agree)."""
    prompt = requests * usage.prompt_tokens
    cached = round(prompt * usage.cache_hit_rate)
    lines = price_tokens(rates, input_tokens=round(prompt), cached_tokens=cached,
                         output_tokens=round(requests * usage.response_tokens))
    return float(sum((line.usd for line in lines), start=Decimal(0)))


def api_cost_per_request(rates: Rates, usage: Usage) -> float:
    """Priced over a million requests, so fractional mean token counts are not rounded away."""
    return api_cost_per_day(rates, usage, _PER_MILLION) / _PER_MILLION


def served_tokens(hosted: SelfHosted, usage: Usage) -> float:
    """Tokens per request that count against the replica's throughput."""
    if hosted.throughput_counts == "output":
        return usage.response_tokens
    return usage.prompt_tokens + usage.response_tokens


def requests_per_replica_day(hosted: SelfHosted, usage: Usage, peak_hour_share: float) -> float:
    """Daily requests one replica carries when the busiest hour has `peak_hour_share` of them."""
    per_request = served_tokens(hosted, usage)
    if per_request <= 0:
        return math.inf
    peak_hour_capacity = hosted.tokens_per_second * hosted.utilization * SECONDS_PER_HOUR
    return peak_hour_capacity / (peak_hour_share * per_request)


def replicas_needed(hosted: SelfHosted, usage: Usage, peak_hour_share: float, requests: float) -> int:
    per_replica = requests_per_replica_day(hosted, usage, peak_hour_share)
    return max(hosted.replicas, math.ceil(requests / per_replica - _EPS))


def replica_day_usd(hosted: SelfHosted) -> float:
    return hosted.gpu_per_hour_usd * HOURS_PER_DAY


def break_even(hosted: SelfHosted, usage: Usage, peak_hour_share: float, api_per_request: float
               ) -> tuple[float | None, float | None]:
    """(first_cheaper, always_cheaper) daily requests, None when the API is always cheaper.

    With G a replica-day's price, C the requests a replica carries per day and a the API
    price per request, k = a*C/G says how much cheaper a full replica is. With r
    replicas (volumes up to r*C) self-hosting wins from r*G/a; every replica band past r
    is won entirely once (r-1)*C >= r*G/a, that is once r >= 1/(k-1) + 1.
    """
    day = replica_day_usd(hosted)
    per_replica = requests_per_replica_day(hosted, usage, peak_hour_share)
    if api_per_request <= 0 or math.isinf(per_replica):
        return None, None
    k = api_per_request * per_replica / day
    if k <= 1:
        return None, None
    first = hosted.replicas * day / api_per_request
    settled = max(hosted.replicas, math.ceil(1 / (k - 1) - _EPS))
    return first, settled * day / api_per_request


def _usage(plan: Plan, *, cache_hit_rate: float | None = None, prompt_factor: float = 1.0) -> Usage:
    rate = plan.tokens.cache_hit_rate if cache_hit_rate is None else cache_hit_rate
    return Usage(plan.tokens.prompt_tokens * prompt_factor, plan.tokens.response_tokens, rate)


def _cost(candidate: Candidate, plan: Plan, usage: Usage, volumes: tuple[Scenario, ...],
          catalog: PriceCatalog, at: date) -> CandidateCost:
    hosted = candidate.self_hosted
    if hosted is None:
        rates = candidate_rates(candidate, catalog, at, usage.prompt_tokens)
        cached = rates.input if rates.cached_input is None else rates.cached_input
        detail = f"${_rate(rates.input)} / ${_rate(cached)} cached / ${_rate(rates.output)} out per 1M"
        return CandidateCost(candidate.label, "api",
                             tuple(api_cost_per_day(rates, usage, s.requests_per_day) for s in volumes),
                             detail=detail, per_request=api_cost_per_request(rates, usage))
    share = plan.traffic.peak_hour_share
    replicas = tuple(replicas_needed(hosted, usage, share, s.requests_per_day) for s in volumes)
    capacity = requests_per_replica_day(hosted, usage, share)
    detail = f"${hosted.gpu_per_hour_usd:g}/h per replica, {capacity:,.0f} requests/day each"
    return CandidateCost(candidate.label, "self-hosted", tuple(r * replica_day_usd(hosted) for r in replicas),
                         replicas, detail, replica_day=replica_day_usd(hosted), requests_per_replica=capacity,
                         min_replicas=hosted.replicas)


def _rate(value: Decimal) -> str:
    """0.30 -> 0.3, 10 -> 10 (not 1E+1)."""
    return format(value.normalize(), "f")


def _break_evens(plan: Plan, usage: Usage, costs: tuple[CandidateCost, ...]) -> tuple[BreakEven, ...]:
    """Every self-hosted candidate against every API candidate, at the plan's tokens."""
    apis = [c for c in costs if c.kind == "api"]
    return tuple(BreakEven(candidate.label, api.label,
                           *break_even(hosted, usage, plan.traffic.peak_hour_share, api.per_request))
                 for candidate in plan.candidates if (hosted := candidate.self_hosted) is not None
                 for api in apis)


def _savings(plan: Plan, base: tuple[CandidateCost, ...], catalog: PriceCatalog, at: date
             ) -> tuple[Saving, ...]:
    """Each what-if lever alone, on the P50 month, so a reader sees what each one is worth."""
    typical = (scenarios(plan)[0],)
    hit_rate, factor = plan.what_if.cache_hit_rate, plan.what_if.prompt_factor
    levers = [(f"cache hit rate {hit_rate:.0%}", _usage(plan, cache_hit_rate=hit_rate)),
              (f"prompt x{factor:g}", _usage(plan, prompt_factor=factor))]
    out: list[Saving] = []
    for candidate, before in zip(plan.candidates, base, strict=True):
        for change, usage in levers:
            after = _cost(candidate, plan, usage, typical, catalog, at)
            out.append(Saving(candidate.label, change, before.per_month[0], after.per_month[0]))
    return tuple(out)


def compute_plan(plan: Plan, catalog: PriceCatalog, today: date) -> PlanResult:
    """Every figure of a plan, priced at `plan.price_date` (or `today`)."""
    at = plan.price_date or today
    usage = _usage(plan)
    volumes = scenarios(plan)
    costs = tuple(_cost(c, plan, usage, volumes, catalog, at) for c in plan.candidates)
    return PlanResult(plan.name, at, usage, volumes, costs, _break_evens(plan, usage, costs),
                      _savings(plan, costs, catalog, at))
