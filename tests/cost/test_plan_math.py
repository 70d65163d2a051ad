"""The planner's arithmetic on docs/cost.md's worked example, hand-computed here too, and the
plan file's validation."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from corral.cost.catalog import PriceCatalog
from corral.cost.plan_math import PlanResult, Usage, break_even, compute_plan, replicas_needed
from corral.cost.plan_model import PlanError, SelfHosted, load_plan, parse_plan, plan_yaml

DOC = Path(__file__).parents[2] / "docs" / "cost.md"
TODAY = date(2026, 12, 2)


def doc_plan_text() -> str:
    """The plan file of docs/cost.md's "Planning" section (the worked example runs it)."""
    section = DOC.read_text(encoding="utf-8").split("## Planning", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def result() -> PlanResult:
    return compute_plan(parse_plan(yaml.safe_load(doc_plan_text())), PriceCatalog.load(), TODAY)


def test_worked_example_volumes_and_api_costs(result: PlanResult) -> None:
    assert [s.requests_per_day for s in result.scenarios] == [30_000, 75_000, 300_000]  # 2,000 x 3 x 5
    mini, haiku, _gpu = result.costs
    # 2,000 prompt tokens, 25% cached, 400 out: 1,500 x 0.15 + 500 x 0.075 + 400 x 0.60 per 1M
    assert mini.per_request == pytest.approx(502.5e-6)
    assert mini.per_day == pytest.approx((15.075, 37.6875, 150.75))
    assert mini.per_month == pytest.approx((452.25, 1130.625, 4522.5))
    # 1,500 x 1 + 500 x 0.10 + 400 x 5 per 1M
    assert haiku.per_request == pytest.approx(3550e-6)
    assert haiku.per_month == pytest.approx((3195.0, 7987.5, 31950.0))


def test_worked_example_self_hosted(result: PlanResult) -> None:
    gpu = result.costs[2]
    # one replica: 2,500 x 0.6 tokens/s; a request: 2,400 tokens; 12% of a day in its busiest hour
    assert gpu.requests_per_replica == pytest.approx(1500 * 3600 / (0.12 * 2400))  # 18,750
    assert gpu.replicas == (2, 4, 16)  # peak hours of 2,400, 6,000 and 24,000 tokens/s
    assert gpu.per_day == pytest.approx((120.0, 240.0, 960.0))  # replicas x $2.50 x 24


def test_worked_example_break_even_and_savings(result: PlanResult) -> None:
    against_mini, against_haiku = result.break_evens
    assert (against_mini.first_cheaper, against_mini.always_cheaper) == (None, None)  # k = 0.157
    assert against_haiku.first_cheaper == pytest.approx(60 / 0.00355)  # 16,901
    assert against_haiku.always_cheaper == pytest.approx(10 * 60 / 0.00355)  # ceil(1 / 0.109375) = 10
    saved = {(s.label, s.change): round(s.saved, 2) for s in result.savings}
    assert saved[("gpt-4o-mini", "cache hit rate 50%")] == 33.75
    assert saved[("gpt-4o-mini", "prompt x0.6")] == 94.5
    assert saved[("claude-haiku-4-5", "cache hit rate 50%")] == 405.0
    assert saved[("claude-haiku-4-5", "prompt x0.6")] == 558.0
    assert saved[("llama-3.1-70b on 1xH100", "prompt x0.6")] == 0.0


@pytest.mark.parametrize("minimum", [1, 3])
@pytest.mark.parametrize("api_per_request", [0.00355, 0.0034, 0.02])
def test_break_even_matches_a_brute_force_search(minimum: int, api_per_request: float) -> None:
    hosted = SelfHosted(gpu_per_hour_usd=2.5, tokens_per_second=2500, utilization=0.6, replicas=minimum)
    usage = Usage(2000, 400, 0.25)
    first, always = break_even(hosted, usage, 0.12, api_per_request)

    def gpu_cheaper(n: int) -> bool:  # a replica-day is $60
        return replicas_needed(hosted, usage, 0.12, n) * 60 <= api_per_request * n

    assert first is not None and always is not None
    assert not gpu_cheaper(math.ceil(first) - 1) and gpu_cheaper(math.ceil(first))
    assert not gpu_cheaper(math.ceil(always) - 1)
    assert all(gpu_cheaper(n) for n in range(math.ceil(always), 2_000_000, 373))


def test_break_even_none_when_a_full_replica_costs_more_per_request() -> None:
    hosted = SelfHosted(gpu_per_hour_usd=2.5, tokens_per_second=2500, utilization=0.6)
    assert break_even(hosted, Usage(2000, 400, 0.25), 0.12, 0.003) == (None, None)  # k = 0.9375


def test_saved_plan_round_trips(result: PlanResult, tmp_path: Path) -> None:
    plan = parse_plan(yaml.safe_load(doc_plan_text()))
    path = tmp_path / "plan.yaml"
    path.write_text(plan_yaml(plan), encoding="utf-8")
    assert load_plan(path) == plan


@pytest.mark.parametrize(("text", "expected"), [
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 10, response_tokens: 1}\ncandidates: []",
     "candidates: List should have at least 1 item"),
    ("traffic: {requests_per_day: 10, daily_active_users: 5}\n"
     "tokens: {prompt_tokens: 1, response_tokens: 1}\ncandidates: [{model: gpt-4o}]",
     "traffic: give either requests_per_day or daily_active_users"),
    ("traffic: {daily_active_users: 5}\ntokens: {prompt_tokens: 1, response_tokens: 1}\n"
     "candidates: [{model: gpt-4o}]", "traffic: needs requests_per_day, or all of"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 1, response_tokens: 1, cache_hit_rate: 2}\n"
     "candidates: [{model: gpt-4o}]", "tokens.cache_hit_rate: Input should be less than or equal to 1"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 1, response_tokens: 1}\n"
     "candidates: [{model: gpt-4o, replica: 2}]", "candidates.0.replica: unknown key"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 1, response_tokens: 1}\n"
     "candidates: [{name: gpu, self_hosted: {gpu_per_hour_usd: 1}}]",
     "candidates.0.self_hosted.tokens_per_second: Field required"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 1, response_tokens: 1}\n"
     "candidates: [{model: gpt-4o, self_hosted: {gpu_per_hour_usd: 1, tokens_per_second: 9}}]",
     "candidates.0: a candidate needs exactly one of model"),
    ("- just a list", "a plan must be a mapping"),
])
def test_bad_plans_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(PlanError, match=re.escape(expected)):
        parse_plan(yaml.safe_load(text), "plan.yaml")


def test_bad_yaml_and_unknown_models(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("traffic: [unclosed", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(broken)
    plan = parse_plan({"traffic": {"requests_per_day": 10}, "candidates": [{"model": "gpt-9-turbo"}],
                       "tokens": {"prompt_tokens": 1, "response_tokens": 1}})
    with pytest.raises(PlanError, match="no catalog price for 'gpt-9-turbo'"):
        compute_plan(plan, PriceCatalog.load(), TODAY)
    data = plan.model_dump(mode="json")
    data["candidates"][0]["price"] = {"input_per_mtok": 1, "output_per_mtok": 2}  # an uncatalogued model
    priced = parse_plan(data)
    assert compute_plan(priced, PriceCatalog.load(), TODAY).costs[0].per_day[0] == pytest.approx(10 * 3e-6)


def test_batch_candidates_take_the_catalogs_batch_share() -> None:
    base = {"traffic": {"requests_per_day": 30_000}, "tokens": {"prompt_tokens": 2000, "response_tokens": 400,
                                                                "cache_hit_rate": 0.25}}
    both = [{"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini", "batch": True}]
    plan = parse_plan({**base, "candidates": both})
    standard, batch = compute_plan(plan, PriceCatalog.load(), TODAY).costs
    assert batch.label == "gpt-4o-mini (batch)" and batch.per_day[0] == pytest.approx(standard.per_day[0] / 2)
    unknown = parse_plan({**base, "candidates": [
        {"model": "mine", "batch": True, "price": {"input_per_mtok": 1, "output_per_mtok": 1}}]})
    with pytest.raises(PlanError, match="has no batch price"):
        compute_plan(unknown, PriceCatalog.load(), TODAY)
    with pytest.raises(PlanError, match="price and batch apply to API models"):
        parse_plan({**base, "candidates": [
            {"name": "gpu", "batch": True, "self_hosted": {"gpu_per_hour_usd": 1, "tokens_per_second": 9}}]})
