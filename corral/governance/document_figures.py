"""The governance document's measured figures: how well personal data is found, and how the
gateway has been doing (requests, errors, fallbacks, refusals, latency) over the last 30 days.

The detector's figures are measurements from bench/pii_eval.py reported in
docs/privacy-detection.md (a test keeps the two equal); they describe the detector shipped in
this version, not this deployment's traffic, and the document says so. The operating figures
come from the deployment's own request records when the document is generated with the
database at hand (`corral governance doc`, the dashboard); without it the section says where
to find them instead of printing numbers it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from corral.core.text_table import markdown_table

if TYPE_CHECKING:
    from corral.store.db import Database

WINDOW_DAYS = 30

# bench/pii_eval.py on the held-out half of synth_v2 (docs/privacy-detection.md, "Results").
DETECTOR = {
    "precision": 0.924,
    "recall": 0.857,
    "f2": 0.870,
    "checksum_recall": 1.0,  # credit cards, IBANs, US SSNs, emails, IP addresses
    "flags_per_1000_chars": 0.456,  # on text with no personal data (standard-library docstrings)
    "median_ms": 14.7,  # one 317-character prompt, 2 cores
}


@dataclass(frozen=True, slots=True)
class OperatingFigures:
    """The deployment's own record of the last `WINDOW_DAYS` days."""

    since: datetime
    requests: int
    error_rate: float
    degraded_rate: float  # answered by a fallback, the cache or a graceful message
    policy_events: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


async def operating_figures(db: Database, now: datetime | None = None) -> OperatingFigures:
    """Figures from the request records and policy events (two aggregate queries)."""
    from corral.governance.policy_events import PolicyEventStore
    from corral.observe import queries

    since = (now or datetime.now(UTC)) - timedelta(days=WINDOW_DAYS)
    summary: dict[str, Any] = await queries.summary(db, since, top_routes=1)
    events = await PolicyEventStore(db).count_by("category", since)
    n = summary["count"]
    latency = summary["latency_ms"]
    return OperatingFigures(since, n, summary["error_rate"], summary["degraded"] / n if n else 0.0,
                            sum(events.values()), latency.get("p50"), latency.get("p95"))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def figures_section(figures: OperatingFigures | None) -> str:
    d = DETECTOR
    parts = [
        "## Measured figures",
        "",
        "**Personal-data detection.** Measured on a labelled set of 1,500 synthetic documents, "
        "on the half that was never used for tuning, for the detector shipped in this version "
        "(not on this deployment's traffic):",
        "",
        markdown_table(["Measure", "Value", "Meaning"], [
            ["Recall", f"{d['recall']:.3f}", "share of personal-data values found"],
            ["Precision", f"{d['precision']:.3f}", "share of flagged spans that were personal data"],
            ["F2", f"{d['f2']:.3f}", "one score weighing recall four times as much as precision"],
            ["Recall on checksum types", f"{d['checksum_recall']:.1f}",
             "card numbers, IBANs, US SSNs, email and IP addresses"],
            ["False alarms", f"{d['flags_per_1000_chars']} per 1,000 characters",
             "on text containing no personal data"],
            ["Time per prompt", f"{d['median_ms']} ms", "median, a 317-character prompt"],
        ]),
        "",
        "About one value in six is missed, mostly organisation names, ages, postcodes on their "
        "own and dates; a route that must never send personal data to a provider should use "
        "`block` rather than `redact`, or a provider under contract for that data.",
        "",
    ]
    if figures is None:
        parts.append("**Operation.** This copy was generated without the gateway's database, so it "
                     "has no operating figures; the dashboard and `corral stats` show them.")
        return "\n".join(parts)
    parts += [
        f"**Operation.** From this deployment's request records since "
        f"{figures.since.strftime('%Y-%m-%d')} ({WINDOW_DAYS} days):",
        "",
        markdown_table(["Measure", "Value"], [
            ["Requests", f"{figures.requests:,}"],
            ["Failed (an error reached the client)", _pct(figures.error_rate)],
            ["Answered by a fallback, the cache or a graceful message", _pct(figures.degraded_rate)],
            ["Provider refusals (content-policy events)", f"{figures.policy_events:,}"],
            ["Latency, median / 95th percentile", f"{_ms(figures.latency_p50_ms)} / "
                                                  f"{_ms(figures.latency_p95_ms)}"],
        ]),
    ]
    return "\n".join(parts)
