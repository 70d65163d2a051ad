"""cost_of against hand-computed values: each token type, several models, to 1e-8 USD.

Every expected value is written as the arithmetic a reviewer can redo with the vendor's
published prices (USD per 1M tokens): tokens x price / 1,000,000, one line per kind.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.cost import Pricer, PricingSettings, cost_of, is_billed
from corral.observe.record import RequestRecord

M = 1_000_000


def ts(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, 12, tzinfo=UTC).timestamp()


def rec(model: str | None, provider_type: str | None = "openai", **kw: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": "r1", "created_at": ts(2026, 3, 1), "key_id": "key_a", "team": "t", "end_user": None,
        "route": "chat", "requested_model": model or "x", "served_model": model,
        "deployment": f"{provider_type}/{model}", "provider_type": provider_type,
        "status": "ok", "http_status": 200, "error_type": None, "stream": False,
    }
    fields.update(kw)
    return RequestRecord(**fields)


def cents_exact(actual: float | None, expected: float) -> None:
    assert actual is not None
    assert actual == pytest.approx(expected, abs=1e-9)
    assert round(actual, 2) == round(expected, 2)


def test_gpt4o_uncached_cached_and_output() -> None:
    r = rec("gpt-4o-2024-08-06", input_tokens=12_000, cached_tokens=4_000, output_tokens=1_500)
    expected = (
        8_000 * 2.50 / M  # uncached input: 12,000 - 4,000 at $2.50   = $0.020
        + 4_000 * 1.25 / M  # cached input at $1.25                   = $0.005
        + 1_500 * 10.00 / M  # output at $10                          = $0.015
    )  # = $0.040
    cost, priced = cost_of(r)
    assert priced
    cents_exact(cost, expected)
    assert cost == 0.04


def test_o4_mini_reasoning_is_billed_inside_output() -> None:
    # OpenAI reports reasoning inside completion tokens: 5,000 output of which 4,200 reasoning.
    r = rec("o4-mini", input_tokens=3_000, cached_tokens=1_024, output_tokens=5_000, reasoning_tokens=4_200)
    expected = (
        1_976 * 1.10 / M  # uncached input: 3,000 - 1,024 at $1.10   = $0.0021736
        + 1_024 * 0.275 / M  # cached input at $0.275                 = $0.0002816
        + 5_000 * 4.40 / M  # all output (reasoning included) at $4.40 = $0.0220000
    )  # = $0.0244552
    cost, _ = cost_of(r)
    cents_exact(cost, expected)
    assert cost == 0.0244552


def test_claude_sonnet_cache_reads_and_writes() -> None:
    # Anthropic wire usage: input 2,000 + cache_read 50,000 + cache_creation 10,000, output 800.
    # Corral's Usage folds all three into input_tokens (62,000) and keeps reads as cached_tokens.
    base = {"input_tokens": 62_000, "cached_tokens": 50_000, "output_tokens": 800}
    without_writes = cost_of(rec("claude-sonnet-4-5-20250929", "anthropic", **base))[0]
    expected = (
        12_000 * 3.00 / M  # input incl. the 10,000 unreported writes, at $3 = $0.036
        + 50_000 * 0.30 / M  # cache reads at $0.30                        = $0.015
        + 800 * 15.00 / M  # output at $15                                 = $0.012
    )  # = $0.063 (under-counts the writes by 10,000 x $0.75 = $0.0075)
    cents_exact(without_writes, expected)

    # A record that carries the writes (a future Usage field) is priced exactly.
    as_row = {**_record_dict(rec("claude-sonnet-4-5", "anthropic", **base)), "cache_write_tokens": 10_000}
    expected_exact = (
        2_000 * 3.00 / M  # plain input                       = $0.0060
        + 10_000 * 3.75 / M  # 5-minute cache writes at $3.75  = $0.0375
        + 50_000 * 0.30 / M  # cache reads                     = $0.0150
        + 800 * 15.00 / M  # output                            = $0.0120
    )  # = $0.0705
    cents_exact(cost_of(as_row)[0], expected_exact)


def _record_dict(r: RequestRecord) -> dict[str, Any]:
    return {name: getattr(r, name) for name in r.__dataclass_fields__}


def test_claude_haiku_one_hour_cache_writes() -> None:
    row = _record_dict(rec("claude-haiku-4-5", "anthropic", input_tokens=20_000, output_tokens=500))
    row["cache_write_1h_tokens"] = 16_000
    expected = (
        4_000 * 1.00 / M  # plain input: 20,000 - 16,000 at $1   = $0.0040
        + 16_000 * 2.00 / M  # 1-hour cache writes at $2         = $0.0320
        + 500 * 5.00 / M  # output at $5                         = $0.0025
    )  # = $0.0385
    cents_exact(cost_of(row)[0], expected)


def test_gemini_25_pro_tier_switches_above_200k_prompt_tokens() -> None:
    # Below the tier: thoughts (1,500) are already inside output_tokens (2,000).
    low = rec("gemini-2.5-pro", "gemini", input_tokens=150_000, cached_tokens=100_000,
              output_tokens=2_000, reasoning_tokens=1_500)
    expected_low = (
        50_000 * 1.25 / M  # uncached input at $1.25 = $0.0625
        + 100_000 * 0.125 / M  # cached at $0.125    = $0.0125
        + 2_000 * 10.00 / M  # output at $10         = $0.0200
    )  # = $0.095
    cents_exact(cost_of(low)[0], expected_low)

    high = rec("gemini-2.5-pro", "gemini", input_tokens=250_000, cached_tokens=100_000, output_tokens=2_000)
    expected_high = (  # every token at the >200k tier, not only the excess
        150_000 * 2.50 / M  # uncached input at $2.50 = $0.375
        + 100_000 * 0.25 / M  # cached at $0.25       = $0.025
        + 2_000 * 15.00 / M  # output at $15          = $0.030
    )  # = $0.430
    cents_exact(cost_of(high)[0], expected_high)

    # The boundary: 200,000 is still "<= 200k"; 200,001 is not.
    assert cost_of(rec("gemini-2.5-pro", "gemini", input_tokens=200_000))[0] == 200_000 * 1.25 / M  # $0.25
    assert cost_of(rec("gemini-2.5-pro", "gemini", input_tokens=200_001))[0] == 0.5000025  # 200,001 x $2.50


def test_tiny_and_embedding_costs_are_exact_to_1e8() -> None:
    tiny = rec("gpt-4o-mini", input_tokens=7, output_tokens=3)
    # 7 x $0.15 / 1M = $0.00000105 ; 3 x $0.60 / 1M = $0.0000018 ; total $0.00000285
    assert cost_of(tiny)[0] == 0.00000285
    emb = rec("text-embedding-3-small", input_tokens=1_234_567)
    # 1,234,567 x $0.02 / 1M = $0.02469134
    assert cost_of(emb)[0] == 0.02469134


def test_effective_dates_reprice_by_request_day() -> None:
    before = rec("o3", input_tokens=1_000_000, output_tokens=100_000, created_at=ts(2025, 6, 9))
    after = rec("o3", input_tokens=1_000_000, output_tokens=100_000, created_at=ts(2025, 6, 10))
    assert cost_of(before)[0] == 14.0  # 1M x $10 + 100k x $40 = $10 + $4
    assert cost_of(after)[0] == 2.8  # 1M x $2 + 100k x $8 = $2 + $0.80


def test_unknown_models_are_unpriced_never_zero() -> None:
    assert cost_of(rec("gpt-4o-audio-preview", input_tokens=10, output_tokens=10)) == (None, False)
    assert cost_of(rec("llama-3.1-8b", "vllm", input_tokens=10, output_tokens=10)) == (None, False)
    assert cost_of(rec(None, None, input_tokens=10, output_tokens=10)) == (None, False)


def test_failures_before_output_cost_nothing_and_are_priced() -> None:
    throttled = rec("gpt-4o", status="error", http_status=429, error_type="rate_limited",
                    input_tokens=1_200, usage_estimated=True)
    assert not is_billed(throttled)
    assert cost_of(throttled) == (0.0, True)
    upstream_5xx = rec("not-in-any-catalog", "vllm", status="error", http_status=502)
    assert cost_of(upstream_5xx) == (0.0, True)  # not billed, so known to be $0 even unpriced


def test_a_stream_broken_after_output_is_billed_for_its_tokens() -> None:
    broken = rec("gpt-4o", status="error", http_status=200, error_type="upstream_disconnect", stream=True,
                 input_tokens=1_000, output_tokens=300, usage_estimated=True)
    assert is_billed(broken)
    # 1,000 x $2.50 = $0.0025 ; 300 x $10 = $0.0030 ; total $0.0055
    assert cost_of(broken) == (0.0055, True)


def test_cache_hits_and_degraded_messages_cost_nothing() -> None:
    assert cost_of(rec("gpt-4o", cache_hit=True, input_tokens=500, output_tokens=50)) == (0.0, True)
    assert cost_of(rec("gpt-4o", status="degraded", degraded="message", output_tokens=20)) == (0.0, True)
    fallback = rec("gpt-4o", status="degraded", degraded="content_policy_fallback", input_tokens=1_000)
    assert cost_of(fallback) == (0.0025, True)  # a real call to another model: 1,000 x $2.50


def test_overrides_win_over_the_catalog() -> None:
    pricer = Pricer.from_settings(PricingSettings.model_validate({"models": {"gpt-4o": {
        "input_per_mtok": 2.0, "output_per_mtok": 8.0, "effective_from": "2026-01-01"}}}))
    r = rec("gpt-4o-2024-08-06", input_tokens=12_000, cached_tokens=4_000, output_tokens=1_500)
    # no cached price in the override: cached tokens at the input price
    # 12,000 x $2 = $0.024 ; 1,500 x $8 = $0.012 ; total $0.036
    assert pricer.cost_of(r) == (0.036, True)
    r.created_at = ts(2025, 12, 31)  # before the override: the catalog's $0.040
    assert pricer.cost_of(r) == (0.04, True)


def test_a_separate_reasoning_price_moves_reasoning_off_the_output_line() -> None:
    pricer = Pricer.from_settings(PricingSettings.model_validate({"models": {"my-reasoner": {
        "input_per_mtok": 1, "output_per_mtok": 4, "reasoning_per_mtok": 8}}}))
    r = rec("my-reasoner", "openai-compatible",
            input_tokens=1_000, output_tokens=3_000, reasoning_tokens=2_000)
    # 1,000 x $1 = $0.001 ; (3,000 - 2,000) x $4 = $0.004 ; 2,000 x $8 = $0.016 ; total $0.021
    assert pricer.cost_of(r) == (0.021, True)


def hourly(**deployment: Any) -> Pricer:
    settings = PricingSettings.model_validate({"deployments": {"gpu/llama-3.1-8b": deployment}})
    return Pricer.from_settings(settings)


def test_self_hosted_hourly_rate_is_amortized_over_throughput() -> None:
    r = rec("llama-3.1-8b", "vllm", deployment="gpu/llama-3.1-8b", input_tokens=1_000, output_tokens=800)
    # $2.50/h over 500 tok/s = 1,800,000 tok/h -> $2.50 / 1.8M per token; 1,800 tokens -> $0.0025
    assert hourly(per_hour_usd=2.5, tokens_per_second=500).cost_of(r) == (0.0025, True)
    # busy half the hour: twice the cost per token -> $0.005
    assert hourly(per_hour_usd=2.5, tokens_per_second=500, utilization=0.5).cost_of(r) == (0.005, True)
    # throughput of generated tokens only: 200 tok/s = 720,000 tok/h; 800 output tokens
    # 800 x $2.50 / 720,000 = $0.0027777... -> $0.00277778 (rounded to 1e-8)
    output_only = hourly(per_hour_usd=2.5, tokens_per_second=200, throughput_counts="output")
    assert output_only.cost_of(r) == (0.00277778, True)


def test_self_hosted_hourly_uses_measured_throughput_when_not_configured() -> None:
    pricer = hourly(per_hour_usd=2.5)
    r = rec("llama-3.1-8b", "vllm", deployment="gpu/llama-3.1-8b", input_tokens=1_000, output_tokens=800)
    assert pricer.cost_of(r) == (None, False)  # nothing measured yet: unpriced, not $0
    pricer.set_measured_throughput("gpu/llama-3.1-8b", 250)
    # 250 tok/s = 900,000 tok/h; 1,800 x $2.50 / 900,000 = $0.005
    assert pricer.cost_of(r) == (0.005, True)


def test_self_hosted_per_token_price_by_provider_name() -> None:
    pricer = Pricer.from_settings(PricingSettings.model_validate({"deployments": {"together": {
        "input_per_mtok": 0.20, "output_per_mtok": 0.60}}}))
    r = rec("meta-llama/Llama-3.3-70B", "openai-compatible", deployment="together/meta-llama/Llama-3.3-70B",
            input_tokens=10_000, output_tokens=5_000)
    # 10,000 x $0.20 = $0.002 ; 5,000 x $0.60 = $0.003 ; total $0.005
    assert pricer.cost_of(r) == (0.005, True)


def test_stored_rows_are_priced_like_records() -> None:
    # a row as corral.observe.queries.to_dict renders it: ISO time, the day decides the price
    row = {**_record_dict(rec("o3", input_tokens=1_000_000, output_tokens=100_000)),
           "created_at": "2025-06-09T23:59:59+00:00"}
    assert cost_of(row) == (14.0, True)  # $10 + $4, the pre-cut price
    row["created_at"] = datetime(2025, 6, 10, 0, 0, 1, tzinfo=UTC)
    assert cost_of(row) == (2.8, True)


def test_breakdown_explains_each_line() -> None:
    pricer = Pricer.from_settings()
    b = pricer.breakdown(rec("gpt-4o", input_tokens=12_000, cached_tokens=4_000, output_tokens=1_500))
    assert [(line.kind, line.tokens) for line in b.lines] == [("input", 8_000), ("cached_input", 4_000),
                                                              ("output", 1_500)]
    assert b.price is not None and b.price.source and b.cost_usd == 0.04


@pytest.mark.parametrize("bad", [
    {"per_hour_usd": 2, "input_per_mtok": 1, "output_per_mtok": 1},
    {"input_per_mtok": 1},
    {},
    {"input_per_mtok": 1, "output_per_mtok": 1, "tokens_per_second": 10},
    {"per_hour_usd": 2, "tokens_per_second": 0},
    {"per_hour_usd": 2, "gpu": "a100"},
])
def test_invalid_deployment_prices_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PricingSettings.model_validate({"deployments": {"d": bad}})


def test_the_documented_yaml_is_valid_and_prices_as_described() -> None:
    text = (Path(__file__).parents[2] / "docs" / "cost.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("pricing:"))
    settings = PricingSettings.model_validate(yaml.safe_load(block)["pricing"])
    pricer = Pricer.from_settings(settings)
    r = rec("llama-3.1-8b-instruct", "vllm", deployment="gpu-box/llama-3.1-8b-instruct",
            input_tokens=1_000, output_tokens=800)
    # $2.50/h / (3600 x 1500 tok/s x 0.6) = $2.50 / 3,240,000 per token; 1,800 tokens
    # 1,800 x 2.50 / 3,240,000 = $0.00138888... -> $0.00138889
    assert pricer.cost_of(r) == (0.00138889, True)
    together = rec("any-model", "openai-compatible", deployment="together/any-model",
                   input_tokens=1_000_000, output_tokens=0)
    assert pricer.cost_of(together) == (0.88, True)
