"""``x-ratelimit-*`` headers as OpenAI sends them, for the limit closest to running out.

OpenAI's names: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets written as
durations (``1s``, ``6m0s``, ``20ms``). Dollar budgets have no OpenAI header; Corral adds the
same three with the suffix ``-usd`` (remaining in dollars, reset at the period's end).
"""

from __future__ import annotations

import math


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms`` under a second, else ``[Nh][Nm]Ns`` (``6m0s``, ``1h0m0s``)."""
    if 1 <= seconds <= 59:
        return f"{math.ceil(seconds)}s"  # a sliding minute's reset, nearly always
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _number(value: float, unit: str) -> str:
    if unit == "usd":
        return f"{max(value, 0.0):.6f}".rstrip("0").rstrip(".") or "0"
    return str(int(value)) if value > 0 else "0"


def limit_headers(unit: str, limit: float, used: float, reset_s: float) -> dict[str, str]:
    """The three headers of one unit (requests, tokens, usd)."""
    return {
        f"x-ratelimit-limit-{unit}": _number(limit, unit),
        f"x-ratelimit-remaining-{unit}": _number(limit - used, unit),
        f"x-ratelimit-reset-{unit}": duration(reset_s),
    }
