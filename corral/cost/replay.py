"""What-if replay: re-price logged traffic under another model, cache hit rate or prompt length.

Why sums, not rows: a request's cost is linear in its tokens, so summing the tokens of
the billed requests per served model (in SQL, a few rows back for a month of traffic)
and pricing the sums gives the same total as pricing each request. The one non-linear
part, long-prompt tiers (every token of a request above 200k prompt tokens costs more),
is kept exact by also grouping on which tier each request falls in under the target
price, after the prompt factor.

What changes, per billed request (the same rule as `corral.cost.pricing.is_billed`:
cache hits, degraded answers and errors without output were not billed and are left out):

* `--model`: priced at that model's catalog rates on the price date (default today);
  without it, each request at its own served model's rates on that date;
* `--prompt-factor F`: prompt tokens (and the cached part of them) x F; output unchanged;
* `--cache-hit-rate R`: R of the prompt at the cached-input price, instead of what was
  recorded.

Native-batch discounts and self-hosted deployment prices are not applied: the replay
answers "what would this traffic cost at list prices".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, not_, or_, select

from corral.cost.catalog import ModelPrice, PriceCatalog
from corral.cost.plan_model import PlanError
from corral.cost.pricing import price_tokens
from corral.store.db import Database
from corral.store.schema import requests


@dataclass(frozen=True, slots=True)
class ReplayRow:
    served_model: str
    requests: int
    prompt_tokens: int  # as recorded
    response_tokens: int
    cached_tokens: int
    recorded_usd: float | None  # what the records say it cost (priced requests only)
    unpriced: int  # requests recorded without a price
    replayed_usd: float | None  # None: no price for the model on the price date


@dataclass(frozen=True, slots=True)
class Replay:
    model: str | None
    price_date: date
    cache_hit_rate: float | None
    prompt_factor: float
    rows: tuple[ReplayRow, ...]

    @property
    def recorded_usd(self) -> float:
        return sum(r.recorded_usd or 0.0 for r in self.rows)

    @property
    def replayed_usd(self) -> float | None:
        """None when some traffic could not be priced (a sum would understate it)."""
        if any(r.replayed_usd is None for r in self.rows):
            return None
        return sum(r.replayed_usd or 0.0 for r in self.rows)


def billed() -> ColumnElement[bool]:
    """SQL for `is_billed`: not from Corral's cache, not a free degraded answer, and an
    error only when it produced output."""
    c = requests.c
    return and_(not_(c.cache_hit), or_(c.degraded.is_(None), c.degraded.not_in(("cache", "message"))),
                or_(c.status != "error", c.output_tokens > 0))


def _tier_index(thresholds: list[int], factor: float) -> ColumnElement[Any]:
    """How many tier thresholds a request's scaled prompt exceeds (0: the base rates)."""
    count: ColumnElement[Any] = literal(0)
    for above in thresholds:
        count = count + case((requests.c.input_tokens * factor > above, 1), else_=0)
    return count


def _price(catalog: PriceCatalog, model: str, provider_type: str | None, at: date) -> ModelPrice | None:
    return catalog.price_for(provider_type, model, at)


def _cost(price: ModelPrice, tier: int, prompt: int, cached: int, response: int,
          factor: float, cache_hit_rate: float | None) -> Decimal:
    tiers = sorted(price.tiers, key=lambda t: t.above_input_tokens)
    rates = tiers[tier - 1].rates if tier else price.rates
    scaled = round(prompt * factor)
    hits = round(scaled * cache_hit_rate) if cache_hit_rate is not None else round(cached * factor)
    lines = price_tokens(rates, input_tokens=scaled, output_tokens=response, cached_tokens=hits)
    return sum((line.usd for line in lines), Decimal(0))


async def replay(db: Database, catalog: PriceCatalog, *, since: datetime, until: datetime | None = None,
                 model: str | None = None, provider_type: str | None = None,
                 cache_hit_rate: float | None = None, prompt_factor: float = 1.0,
                 route: str | None = None, at: date) -> Replay:
    """Re-price the billed chat requests of [since, until) per served model (see the module)."""
    if not 0 <= (cache_hit_rate or 0) <= 1:
        raise PlanError(f"cache_hit_rate must be between 0 and 1, got {cache_hit_rate}")
    if prompt_factor <= 0:
        raise PlanError(f"prompt_factor must be above 0, got {prompt_factor}")
    target = _price(catalog, model, provider_type, at) if model else None
    if model and target is None:
        raise PlanError(f"no catalog price for {model!r} on {at.isoformat()} (see docs/cost.md, The catalog)")
    thresholds = sorted(t.above_input_tokens for t in target.tiers) if target else [200_000]
    c = requests.c
    tier = _tier_index(thresholds, prompt_factor).label("tier")
    where = [c.created_at >= since, billed(), c.operation != "embeddings"]
    if until is not None:
        where.append(c.created_at < until)
    if route:
        where.append(c.route == route)
    stmt = (select(c.served_model, c.provider_type, tier, func.count().label("n"),
                   func.sum(c.input_tokens).label("prompt"), func.sum(c.output_tokens).label("response"),
                   func.sum(c.cached_tokens).label("cached"), func.sum(c.cost_usd).label("recorded"),
                   func.sum(case((c.cost_usd.is_(None), 1), else_=0)).label("unpriced"))
            .where(*where).group_by(c.served_model, c.provider_type, tier))
    groups: dict[str, dict[str, Any]] = {}
    for row in await db.fetch_all(stmt):
        name = row["served_model"] or "unknown"
        acc = groups.setdefault(name, {"n": 0, "prompt": 0, "response": 0, "cached": 0, "recorded": None,
                                       "unpriced": 0, "replayed": Decimal(0)})
        prompt, response, cached = int(row["prompt"] or 0), int(row["response"] or 0), int(row["cached"] or 0)
        for key, value in (("n", int(row["n"])), ("prompt", prompt), ("response", response),
                           ("cached", cached), ("unpriced", int(row["unpriced"] or 0))):
            acc[key] += value
        if row["recorded"] is not None:
            acc["recorded"] = (acc["recorded"] or 0.0) + float(row["recorded"])
        price = target or (_price(catalog, name, row["provider_type"], at) if row["served_model"] else None)
        if price is None or acc["replayed"] is None:
            acc["replayed"] = None
            continue
        tier_of = min(int(row["tier"]), len(price.tiers))
        acc["replayed"] += _cost(price, tier_of, prompt, cached, response, prompt_factor, cache_hit_rate)
    rows = tuple(
        ReplayRow(name, g["n"], g["prompt"], g["response"], g["cached"],
                  None if g["recorded"] is None else round(g["recorded"], 8), g["unpriced"],
                  None if g["replayed"] is None else float(round(g["replayed"], 8)))
        for name, g in sorted(groups.items()))
    return Replay(model, at, cache_hit_rate, prompt_factor, rows)
