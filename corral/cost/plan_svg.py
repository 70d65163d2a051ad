"""Charts of a plan as inline SVG, and the self-contained HTML page `--html` writes.

Why SVG written here rather than a chart library: the page must open offline, and the
dashboard's policy (`default-src 'none'`, scripts and styles from its own origin only)
forbids remote code and inline styles. These charts use SVG presentation attributes
(`fill`, `stroke`) only, no `style` and no script, so the same markup is valid in a
file and inside the dashboard.

Two charts: monthly cost per candidate for the P50 day, the P99 day and 10x usage (bars,
one group per candidate); and cost per day against requests per day, where an API is a
straight line and a GPU deployment a staircase of replicas, so the break-evens are where
they cross.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from html import escape

from corral.cost.plan_math import CandidateCost, PlanResult
from corral.cost.plan_render import break_even_text, summary_lines, usd

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#BAB0AC")
SCENARIO_SHADES = ("#9ecae1", "#4292c6", "#08519c")  # P50, P99, 10x: darker is busier
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
_MAX_POINTS = 600  # a staircase with more steps is sampled


def _compact(value: float, money: bool = False) -> str:
    """Axis labels: 30k, 1.5M, $2.4k."""
    sign = "$" if money else ""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{sign}{value / size:g}{suffix}"
    return f"{sign}{value:g}"


def nice_ticks(top: float, n: int = 5) -> list[float]:
    """0 and round steps (1, 2 or 5 x 10^k) up to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _text(x: float, y: float, body: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {_FONT}{extra}>{escape(body)}</text>'


def month_bars_svg(result: PlanResult, width: int = 760) -> str:
    """Monthly cost per candidate, three bars each (P50 day, P99 day, 10x usage)."""
    label_w, value_w, bar_h, gap, top = 190, 100, 15, 14, 42
    plot_w = width - label_w - value_w
    peak = max((m for c in result.costs for m in c.per_month), default=0.0) or 1.0
    group_h = bar_h * len(result.scenarios) + gap
    height = top + group_h * len(result.costs) + 10
    parts = [_text(0, 16, "Cost per month (30 days at each day's volume)", extra=' font-weight="bold"')]
    for i, scenario in enumerate(result.scenarios):
        x = label_w + i * 120
        parts.append(f'<rect x="{x}" y="24" width="12" height="12" fill="{SCENARIO_SHADES[i]}"/>')
        parts.append(_text(x + 16, 34, scenario.name))
    for row, cost in enumerate(result.costs):
        y0 = top + row * group_h
        parts.append(_text(label_w - 8, y0 + bar_h * 1.5 + 4, cost.label, "end"))
        for i, month in enumerate(cost.per_month):
            y = y0 + i * bar_h
            w = max(1.0, plot_w * month / peak)
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{SCENARIO_SHADES[i]}"><title>{escape(cost.label)}, '
                         f'{escape(result.scenarios[i].name)}: {usd(month)} per month</title></rect>')
            parts.append(_text(label_w + w + 4, y + bar_h - 4, usd(month)))
    return _svg(width, height, "Monthly cost per candidate", parts)


def _points(cost: CandidateCost, x_max: float) -> Iterator[tuple[float, float]]:
    """The curve's corners: two ends for a line, each replica step for a staircase."""
    if cost.kind == "api":
        yield from ((0.0, 0.0), (x_max, cost.at(x_max)))
        return
    steps = math.ceil(x_max / cost.requests_per_replica)
    if steps > _MAX_POINTS:
        xs = (x_max * i / _MAX_POINTS for i in range(_MAX_POINTS + 1))
        yield from ((x, cost.at(x)) for x in xs)
        return
    x = 0.0
    while x < x_max:
        level = cost.at(x)
        edge = min(x_max, max(cost.min_replicas, math.ceil(x / cost.requests_per_replica + 1e-9))
                   * cost.requests_per_replica)
        yield from ((x, level), (edge, level))
        x = edge + 1e-6 * cost.requests_per_replica
    yield (x_max, cost.at(x_max))


def cost_curve_svg(result: PlanResult, width: int = 760, height: int = 360) -> str:
    """Cost per day against requests per day, scenario volumes and break-evens marked."""
    left, right, top, bottom = 70, 190, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = result.scenarios[-1].requests_per_day * 1.05
    x_ticks = nice_ticks(x_max)
    x_max = x_ticks[-1]
    y_ticks = nice_ticks(max(c.at(x_max) for c in result.costs))
    y_max = y_ticks[-1]

    def sx(x: float) -> float:
        return left + plot_w * x / x_max

    def sy(y: float) -> float:
        return top + plot_h * (1 - y / y_max)

    parts = [_text(0, 16, "Cost per day by requests per day", extra=' font-weight="bold"')]
    for t in x_ticks:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        parts.append(_text(sx(t), top + plot_h + 16, _compact(t), "middle"))
    for t in y_ticks:
        y = sy(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(_text(left - 6, sy(t) + 4, _compact(t, money=True), "end"))
    parts.append(_text(left + plot_w / 2, height - 4, "requests per day", "middle"))
    for i, scenario in enumerate(result.scenarios):  # labels staggered: P50 and P99 are often close
        x = sx(scenario.requests_per_day)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#888" '
                     'stroke-dasharray="4 3"/>')
        parts.append(_text(x + 3, top + 10 + 13 * i, scenario.name, extra=' fill="#555"'))
    for i, cost in enumerate(result.costs):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in _points(cost, x_max))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2">'
                     f'<title>{escape(cost.label)}</title></polyline>')
        key_x, key_y = left + plot_w + 12, top + i * 20
        parts.append(f'<rect x="{key_x}" y="{key_y}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(key_x + 16, key_y + 10, cost.label))
    apis = {c.label: c for c in result.costs if c.kind == "api"}
    for item in result.break_evens:
        api = apis[item.api]
        for volume in {v for v in (item.first_cheaper, item.always_cheaper) if v is not None and v <= x_max}:
            parts.append(f'<circle cx="{sx(volume):.1f}" cy="{sy(api.at(volume)):.1f}" r="4" fill="none" '
                         f'stroke="#000"><title>{escape(break_even_text(item))}</title></circle>')
    return _svg(width, height, "Cost per day by requests per day", parts)


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>{"".join(parts)}</svg>')


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def costs_html(result: PlanResult) -> str:
    headers = ["candidate", "kind"]
    for scenario in result.scenarios:
        headers += [f"{scenario.key} per day", f"{scenario.key} per month"]
    rows = []
    for cost in result.costs:
        cells = [cost.label, cost.kind]
        for day, month in zip(cost.per_day, cost.per_month, strict=True):
            cells += [usd(day), usd(month)]
        rows.append([*cells, " / ".join(map(str, cost.replicas)) or "-", cost.detail])
    return _html_table([*headers, "replicas", "price"], rows)


def savings_html(result: PlanResult) -> str:
    rows = [[s.label, s.change, usd(s.per_month_before), usd(s.per_month_after), usd(s.saved)]
            for s in result.savings]
    return _html_table(["candidate", "what if", "P50 month", "then", "saved per month"], rows)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:62rem;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;"
        "border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
        "th:first-child,td:first-child{text-align:left}"
        "svg{display:block;margin:1rem 0}")


def render_html(result: PlanResult) -> str:
    """A page that opens offline: charts, the cost table, break-evens and savings."""
    summary = "".join(f"<p>{escape(line)}</p>" for line in summary_lines(result))
    evens = "".join(f"<li>{escape(break_even_text(b))}</li>" for b in result.break_evens)
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Cost plan: {escape(result.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Cost plan: {escape(result.name)}</h1>", summary,
        month_bars_svg(result), cost_curve_svg(result),
        "<h2>Cost per day and month</h2>", costs_html(result),
        f"<h2>Break-even</h2><ul>{evens}</ul>" if evens else "",
        "<h2>What would save money (P50 month, each change alone)</h2>", savings_html(result),
        "</body></html>\n",
    ])

