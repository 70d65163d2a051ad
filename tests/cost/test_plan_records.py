"""A plan built from recorded traffic, and what-if replays of it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.cost.catalog import PriceCatalog
from corral.cost.plan_math import compute_plan
from corral.cost.plan_model import Candidate, PlanError
from corral.cost.plan_records import nearest_rank, observe, plan_from_observed
from corral.cost.replay import replay
from corral.store import Database
from tests.cost.plan_rows import RECORDED_COST, first_day, insert, row, traffic_rows

START = first_day(datetime(2026, 11, 20, 15, tzinfo=UTC))  # 2026-11-14
END = START + timedelta(days=5)
AT = END.date()
CATALOG = PriceCatalog.load()


@pytest.fixture
async def records(db: Database) -> Database:
    await insert(db, traffic_rows(START))
    return db


async def test_observed_traffic(records: Database) -> None:
    obs = await observe(records, START, END)
    assert obs.daily_requests == (4, 6, 6, 8, 12)  # embeddings and the 40-day-old request left out
    assert (obs.p50_day, obs.p99_day) == (6, 12)
    assert obs.peak_hour_share == pytest.approx((3 + 4 + 6 + 4 + 9) / 36)
    assert (obs.requests, obs.prompt_tokens, obs.response_tokens) == (36, 36_000, 7_200)
    assert obs.cached_tokens == 9_000
    assert obs.models == (("gpt-4o-mini", "openai", 34), ("my-finetune", "openai", 2))
    only = await observe(records, START, END, route="elsewhere")
    assert only.requests == 0 and only.daily_requests == ()


async def test_plan_from_recorded_traffic(records: Database) -> None:
    plan = plan_from_observed(await observe(records, START, END), CATALOG, price_date=AT,
                              extra=(Candidate(model="claude-haiku-4-5"),))
    assert plan.traffic.requests_per_day == 6 and plan.traffic.peak_to_typical == 2.0
    assert plan.traffic.peak_hour_share == 0.7222
    tokens = plan.tokens
    assert (tokens.prompt_tokens, tokens.response_tokens, tokens.cache_hit_rate) == (1000, 200, 0.25)
    assert [c.label for c in plan.candidates] == ["gpt-4o-mini", "claude-haiku-4-5"]
    assert plan.source["unpriced_models"] == ["my-finetune"]
    assert plan.source["records"]["days"] == 5
    result = compute_plan(plan, CATALOG, AT)
    # gpt-4o-mini: 750 x 0.15 + 250 x 0.075 + 200 x 0.60 = 251.25 per 1M; 6, 12 and 60 requests a day
    assert result.costs[0].per_day == pytest.approx((6 * 251.25e-6, 12 * 251.25e-6, 60 * 251.25e-6))
    # claude-haiku-4-5: 750 x 1 + 250 x 0.10 + 200 x 5 = 1,775 per 1M
    assert result.costs[1].per_month[0] == pytest.approx(30 * 6 * 1775e-6)


async def test_no_traffic_is_a_clear_error(db: Database) -> None:
    await insert(db, [])
    with pytest.raises(PlanError, match="no chat requests recorded since"):
        plan_from_observed(await observe(db, START, END), CATALOG)


async def test_replay_under_another_model_cache_and_prompt(records: Database) -> None:
    extra = [row(100, START + timedelta(hours=1), cache_hit=True, cost_usd=0.0),  # not billed: left out
             row(101, START + timedelta(hours=2), status="error", output_tokens=0, cost_usd=0.0)]
    await insert(records, extra)
    same = await replay(records, CATALOG, since=START, until=END, model="gpt-4o-mini", at=AT)
    mini, finetune = same.rows
    assert (mini.served_model, mini.requests) == ("gpt-4o-mini", 34)
    assert mini.recorded_usd == pytest.approx(34 * RECORDED_COST)
    assert (finetune.recorded_usd, finetune.unpriced) == (None, 2)
    # 750 x 0.15 + 250 x 0.075 + 200 x 0.60 = 251.25 per 1M per request, 36 requests
    assert same.replayed_usd == pytest.approx(36 * 251.25e-6)
    haiku = await replay(records, CATALOG, since=START, until=END, model="claude-haiku-4-5", at=AT,
                         cache_hit_rate=0.5, prompt_factor=0.5)
    # 500-token prompts, half cached: 250 x 1 + 250 x 0.10 + 200 x 5 = 1,275 per 1M
    assert haiku.replayed_usd == pytest.approx(36 * 1275e-6)
    own = await replay(records, CATALOG, since=START, until=END, at=AT)
    assert own.rows[0].replayed_usd == pytest.approx(34 * 251.25e-6)
    assert own.rows[1].replayed_usd is None and own.replayed_usd is None, "unpriced is never $0"


async def test_replay_keeps_long_prompt_tiers_exact(db: Database) -> None:
    long, short = (row(i, START + timedelta(seconds=i), input_tokens=n, output_tokens=1000, cached_tokens=0)
                   for i, n in enumerate((300_000, 1000)))
    await insert(db, [long, short])
    full = await replay(db, CATALOG, since=START, model="gemini-2.5-pro", at=AT)
    # above 200k every token at 2.50 / 15; the short one at 1.25 / 10
    assert full.replayed_usd == pytest.approx((300_000 * 2.5 + 1000 * 15 + 1000 * 1.25 + 1000 * 10) / 1e6)
    halved = await replay(db, CATALOG, since=START, model="gemini-2.5-pro", at=AT, prompt_factor=0.5)
    assert halved.replayed_usd == pytest.approx((150_000 * 1.25 + 1000 * 10 + 500 * 1.25 + 1000 * 10) / 1e6)


async def test_replay_rejects_unknown_models(db: Database) -> None:
    await insert(db, [])
    with pytest.raises(PlanError, match="no catalog price for 'gpt-9'"):
        await replay(db, CATALOG, since=START, model="gpt-9", at=AT)


def test_nearest_rank() -> None:
    days = tuple(range(1, 31))  # 30 days: the P99 day is the busiest
    assert (nearest_rank(days, 50), nearest_rank(days, 99)) == (15, 30)
    assert nearest_rank((7,), 99) == 7
