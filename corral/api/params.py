"""Query and path parameters of the admin APIs: parsed once, refused with a 400 that says why.

Why one module: each endpoint once parsed its own, and each copy trusted `str.isdigit`
(true for ``²``, which `int` refuses) or passed NUL characters on to PostgreSQL, which
refuses them in text: both ended as 500s.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request

from corral.core.errors import InvalidRequest
from corral.core.timespan import parse_since

MAX_TEXT_CHARS = 1000


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (ASCII digits only), ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not low <= int(raw) <= high:
        raise InvalidRequest(f"'{name}' must be a whole number from {low} to {high}; got {raw[:40]!r}.",
                             param=name)
    return int(raw)


def since_param(request: Request, default: str | None = None) -> datetime | None:
    """``since``: an ISO 8601 time or a span (30m, 24h, 7d); ``default`` when absent."""
    try:
        return parse_since(request.query_params.get("since") or default)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None


def text_param(request: Request, name: str) -> str | None:
    """A text filter (``route``, ``key_id`` ...); None when absent or empty."""
    return check_text(request.query_params.get(name) or None, name)


def path_text(request: Request, name: str) -> str:
    """A path segment used to look something up (an id or a prefix)."""
    value = check_text(request.path_params[name], name)
    assert value is not None
    return value


def check_text(value: str | None, name: str) -> str | None:
    """Refuse what no backend can compare against: NUL characters and very long values."""
    if value is None:
        return None
    if "\x00" in value:
        raise InvalidRequest(f"'{name}' contains a NUL character (\\u0000); remove it.", param=name)
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidRequest(f"'{name}' is too long (at most {MAX_TEXT_CHARS} characters).", param=name)
    return value
