"""A plan's inputs from the request records instead of guesses (`corral cost plan --from-records`).

One query grouped by UTC hour feeds everything: the hourly counts give each day's busiest
hour, their sums the day-to-day distribution, and the token sums the means. At most
24 rows per day of window come back, however many requests there were.

Definitions (docs/cost.md, "Planning"):

* days: the UTC days of the window that have records (a weekday-only application plans
  for its weekdays; the window's first and last day may be partial);
* P50 day / P99 day: nearest-rank percentiles of the daily request counts;
  `peak_to_typical` = P99 / P50;
* `peak_hour_share`: the busiest hour's requests over its day's, weighted by volume
  (sum of daily maxima / sum of daily counts), so quiet days do not dominate;
* tokens: mean prompt and response tokens per request; `cache_hit_rate`: cached prompt
  tokens over all prompt tokens.

Embedding requests are left out: they are priced per input token by other models and
would distort a chat application's prompt length. Portable between SQLite (timestamps
stored as UTC text) and PostgreSQL (timestamptz).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select

from corral.cost.catalog import PriceCatalog
from corral.cost.plan_model import Candidate, Plan, PlanError, Tokens, Traffic
from corral.store.db import Database
from corral.store.schema import requests

MAX_MODELS = 5  # observed models offered as candidates, busiest first


@dataclass(frozen=True, slots=True)
class Observed:
    """What the records say about traffic over a window."""

    since: datetime
    until: datetime
    daily_requests: tuple[int, ...]  # one per day with records, oldest first
    requests: int
    prompt_tokens: int
    response_tokens: int
    cached_tokens: int
    peak_hour_share: float
    models: tuple[tuple[str, str | None, int], ...]  # (served model, provider type, requests), busiest first

    @property
    def p50_day(self) -> int:
        return nearest_rank(self.daily_requests, 50)

    @property
    def p99_day(self) -> int:
        return nearest_rank(self.daily_requests, 99)


def nearest_rank(values: tuple[int, ...], percentile: float) -> int:
    """The smallest value with at least `percentile`% of values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percentile / 100 * len(ordered))) - 1]


def _hour(db: Database) -> ColumnElement[Any]:
    """'YYYY-MM-DD HH' of a request's UTC start, the same text on both backends."""
    created = requests.c.created_at
    if db.dialect == "postgresql":
        return func.to_char(func.timezone("UTC", created), "YYYY-MM-DD HH24")
    return func.substr(cast(created, String), 1, 13)  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' UTC


def _where(since: datetime, until: datetime, route: str | None) -> list[ColumnElement[bool]]:
    c = requests.c
    clauses = [c.created_at >= since, c.created_at < until, c.operation != "embeddings"]
    if route:
        clauses.append(c.route == route)
    return clauses


async def observe(db: Database, since: datetime, until: datetime | None = None, *,
                  route: str | None = None) -> Observed:
    """Read the window [since, until) (default: until now) of request records."""
    end = until or datetime.now(UTC)
    c = requests.c
    hour = _hour(db).label("hour")
    where = _where(since, end, route)
    rows = await db.fetch_all(
        select(hour, func.count().label("n"), func.sum(c.input_tokens).label("prompt"),
               func.sum(c.output_tokens).label("response"), func.sum(c.cached_tokens).label("cached"))
        .where(*where).group_by(hour))
    by_day: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_day[str(row["hour"])[:10]].append(int(row["n"]))
    days = sorted(by_day)
    models = await db.fetch_all(
        select(c.served_model, c.provider_type, func.count().label("n"))
        .where(*where, c.served_model.is_not(None)).group_by(c.served_model, c.provider_type)
        .order_by(func.count().desc(), c.served_model))
    total = sum(int(r["n"]) for r in rows)
    return Observed(
        since=since, until=end, daily_requests=tuple(sum(by_day[d]) for d in days), requests=total,
        prompt_tokens=sum(int(r["prompt"] or 0) for r in rows),
        response_tokens=sum(int(r["response"] or 0) for r in rows),
        cached_tokens=sum(int(r["cached"] or 0) for r in rows),
        peak_hour_share=sum(max(h) for h in by_day.values()) / total if total else 0.0,
        models=tuple((str(m["served_model"]), m["provider_type"], int(m["n"])) for m in models),
    )


def plan_from_observed(obs: Observed, catalog: PriceCatalog, *, name: str = "from records",
                       extra: tuple[Candidate, ...] = (), price_date: date | None = None) -> Plan:
    """A plan whose traffic and tokens are the observed ones; candidates: the busiest
    observed models the catalog prices, then `extra`. Figures are rounded as the saved
    YAML shows them, so a saved plan re-computes to the same numbers."""
    if obs.requests == 0:
        raise PlanError(f"no chat requests recorded since {obs.since.isoformat(timespec='seconds')}; "
                        "widen --since or write the plan by hand")
    at = price_date or obs.until.date()
    observed: list[Candidate] = []
    unpriced: list[str] = []
    for model, provider_type, _n in obs.models:
        if catalog.price_for(provider_type, model, at) is None:
            unpriced.append(model)
        elif len(observed) < MAX_MODELS:
            observed.append(Candidate(model=model, provider_type=provider_type))
    labels = {c.label for c in extra}
    candidates = [c for c in observed if c.label not in labels] + list(extra)
    if not candidates:
        raise PlanError("the recorded models have no catalog price; name candidates with --model")
    p50, p99 = obs.p50_day, obs.p99_day
    source: dict[str, Any] = {"records": {"since": obs.since.isoformat(timespec="seconds"),
                          "until": obs.until.isoformat(timespec="seconds"), "days": len(obs.daily_requests),
                          "requests": obs.requests, "p50_day": p50, "p99_day": p99}}
    if unpriced:
        source["unpriced_models"] = sorted(set(unpriced))
    hit_rate = round(obs.cached_tokens / obs.prompt_tokens, 4) if obs.prompt_tokens else 0.0
    return Plan(
        name=name, price_date=price_date, source=source, candidates=candidates,
        traffic=Traffic(requests_per_day=p50, peak_to_typical=round(max(1.0, p99 / p50), 3),
                        peak_hour_share=round(obs.peak_hour_share, 4)),
        tokens=Tokens(prompt_tokens=round(obs.prompt_tokens / obs.requests, 1),
                      response_tokens=round(obs.response_tokens / obs.requests, 1),
                      cache_hit_rate=hit_rate),
    )
