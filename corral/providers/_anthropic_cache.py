"""Anthropic prompt caching: the `cache_control` marks a request carries, and their rules.

A mark says "cache the prompt up to and including this block" (Anthropic reads tools, then
system, then messages). Corral keeps each one on the canonical part, tool or tool call it came
on (`CacheMark`) and writes it back on the same block; the rules below are Anthropic's, checked
before the call so a client gets a clear 400 rather than the provider's.
"""

from __future__ import annotations

from typing import Any

from corral.core.errors import InvalidRequest
from corral.core.types import CacheMark, ChatRequest, cache_marks

MAX_BREAKPOINTS = 4  # Anthropic's limit per request


def check_cache_marks(request: ChatRequest) -> None:
    """At most four breakpoints, and a 1-hour one never after a 5-minute one (Anthropic
    requires longer TTLs first, in the order it reads the prompt)."""
    marks = cache_marks(request)
    if len(marks) > MAX_BREAKPOINTS:
        raise InvalidRequest(
            f"'cache_control' is set on {len(marks)} blocks; Anthropic allows at most "
            f"{MAX_BREAKPOINTS} cache breakpoints per request (tools, system and messages together). "
            "Keep the marks on the blocks that end the prefixes worth caching.",
            param="cache_control",
        )
    short = False
    for mark in marks:
        if mark.ttl == "1h" and short:
            raise InvalidRequest(
                "A 'cache_control' with ttl \"1h\" comes after one with the 5-minute TTL; Anthropic "
                "requires longer TTLs first (in the order tools, system, messages).",
                param="cache_control",
            )
        short = short or mark.ttl != "1h"


def cache_control(mark: CacheMark) -> dict[str, Any]:
    """A mark as Anthropic's `cache_control` object (the TTL only when the client gave one)."""
    return {"type": "ephemeral", "ttl": mark.ttl} if mark.ttl else {"type": "ephemeral"}


def marked(block: dict[str, Any], mark: CacheMark | None) -> dict[str, Any]:
    """`block` with its `cache_control` when it carries a mark (the same dict, for chaining)."""
    if mark is not None:
        block["cache_control"] = cache_control(mark)
    return block
