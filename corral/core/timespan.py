"""The one parser for "since when" filters: an ISO 8601 time or a recent span (30m, 24h, 7d).

Used by the admin API, the dashboard and the CLI. Spans are bounded (at most
`MAX_SPAN_DAYS`) and only ASCII digits count, so a query string cannot reach an
overflow (``999999d``) or a conversion error (``²d``, which `str.isdigit` accepts):
every bad value is a ValueError whose message says what to send instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_SPAN_DAYS = 3650
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SPAN_S = MAX_SPAN_DAYS * 86400
_HELP = "an ISO 8601 time (2024-05-01T12:00:00Z) or a span like 30m, 24h, 7d"


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``2024-05-01``, ``2024-05-01T12:00:00+02:00`` (naive means UTC) or a recent span: 30m, 24h, 7d.

    Returns an aware UTC time, or None for an empty value.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value[-1:] in _UNITS and value[:-1].isascii() and value[:-1].isdigit():
        seconds = int(value[:-1]) * _UNITS[value[-1]]
        if seconds > _MAX_SPAN_S:
            raise ValueError(
                f"'since' reaches back at most {MAX_SPAN_DAYS} days; got {value!r}. "
                "Send an ISO 8601 time to start earlier."
            )
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"'since' must be {_HELP} (a time within the years 1-9999); got {value!r}") from None
