"""A computed plan for people: the terminal's tables, and JSON for scripts and the dashboard.

Why money is rounded half-up from the decimal text: a reviewer checks the figures by hand
("30,000 x $0.0005025 = $15.075, so $15.08"), and binary floats rounded half-even would
sometimes print a cent less than the hand calculation.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from corral.core.text_table import text_table
from corral.cost.plan_math import DAYS_PER_MONTH, BreakEven, PlanResult

_CENT = Decimal("0.01")


def usd(value: float) -> str:
    """$1,234.57; amounts under a cent keep four decimals rather than show $0.00."""
    exact = Decimal(repr(value))
    if 0 < abs(exact) < _CENT:
        return f"${exact.quantize(Decimal('0.0001'), ROUND_HALF_UP)}"
    return f"${exact.quantize(_CENT, ROUND_HALF_UP):,}"


def count(value: float) -> str:
    return f"{Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP):,}"


def break_even_text(item: BreakEven) -> str:
    pair = f"{item.self_hosted} vs {item.api}"
    if item.first_cheaper is None or item.always_cheaper is None:
        return f"{pair}: the API is cheaper at every volume"
    if math.isclose(item.first_cheaper, item.always_cheaper):
        return f"{pair}: self-hosting is cheaper from {count(item.first_cheaper)} requests/day"
    return (f"{pair}: self-hosting is first cheaper at {count(item.first_cheaper)} requests/day, "
            f"and at every volume from {count(item.always_cheaper)} requests/day")


def summary_lines(result: PlanResult) -> list[str]:
    p50, p99, tenfold = result.scenarios
    u = result.usage
    return [
        f"Plan: {result.name} (prices of {result.price_date.isoformat()}; a month is {DAYS_PER_MONTH} days)",
        f"Requests per day: P50 {count(p50.requests_per_day)}, P99 {count(p99.requests_per_day)}, "
        f"10x {count(tenfold.requests_per_day)}",
        f"Tokens per request: prompt {count(u.prompt_tokens)} ({u.cache_hit_rate:.0%} cached), "
        f"response {count(u.response_tokens)}",
    ]


def cost_table(result: PlanResult) -> str:
    headers = ["CANDIDATE", "KIND"]
    for scenario in result.scenarios:
        headers += [f"{scenario.key.upper()}/DAY", f"{scenario.key.upper()}/MONTH"]
    headers += ["REPLICAS", "PRICE"]
    rows = []
    for cost in result.costs:
        cells = [cost.label, cost.kind]
        for day, month in zip(cost.per_day, cost.per_month, strict=True):
            cells += [usd(day), usd(month)]
        cells += [" / ".join(str(r) for r in cost.replicas) or "-", cost.detail]
        rows.append(cells)
    return text_table(headers, rows)


def savings_table(result: PlanResult) -> str:
    rows = [[s.label, s.change, usd(s.per_month_before), usd(s.per_month_after), usd(s.saved)]
            for s in result.savings]
    return text_table(["CANDIDATE", "WHAT IF", "P50 MONTH", "THEN", "SAVED PER MONTH"], rows)


def render_text(result: PlanResult) -> str:
    """Everything the terminal shows, in reading order."""
    parts = ["\n".join(summary_lines(result)), "", cost_table(result)]
    if result.break_evens:
        parts += ["", "Break-even (requests per day, at these tokens):",
                  *(f"  {break_even_text(b)}" for b in result.break_evens)]
    parts += ["", "What would save money (P50 month, each change alone):", savings_table(result)]
    return "\n".join(parts)


def result_json(result: PlanResult) -> dict[str, Any]:
    """Plain JSON: dates as ISO text, no infinities (an API candidate's replica capacity)."""
    data = asdict(result)
    data["price_date"] = result.price_date.isoformat()
    for cost, item in zip(result.costs, data["costs"], strict=True):
        item["per_month"] = list(cost.per_month)
        if math.isinf(item["requests_per_replica"]):
            item["requests_per_replica"] = None
    return data
