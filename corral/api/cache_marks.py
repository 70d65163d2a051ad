"""`cache_control`, Anthropic's prompt-cache breakpoint, read the same way on every API that
carries it: Anthropic's Messages blocks, and chat completions' content parts, messages and
tools (the convention OpenAI-SDK users of Anthropic models send through gateways)."""

from __future__ import annotations

from typing import Any

from corral.core.errors import InvalidRequest
from corral.core.types import CacheMark

CACHE_TTLS = ("5m", "1h")


def cache_mark(value: Any, param: str) -> CacheMark | None:
    """``{"type": "ephemeral"}`` with an optional ``ttl`` ("5m" or "1h"), else a 400 at ``param``."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        kind = value.get("type") if isinstance(value, dict) else None
        raise InvalidRequest(
            f"{param} must be {{\"type\": \"ephemeral\"}}, optionally with \"ttl\": \"5m\" or \"1h\""
            + (f"; cache type {str(kind)[:40]!r} is unknown." if kind is not None else "."), param=param)
    unknown = sorted(k for k in value if k not in ("type", "ttl"))
    if unknown:
        raise InvalidRequest(f"{param}: unknown field {unknown[0][:40]!r}; it takes 'type' and 'ttl'.",
                             param=param)
    ttl = value.get("ttl")
    if ttl is not None and ttl not in CACHE_TTLS:
        raise InvalidRequest(f"{param}.ttl must be \"5m\" or \"1h\".", param=f"{param}.ttl")
    return CacheMark(ttl)
