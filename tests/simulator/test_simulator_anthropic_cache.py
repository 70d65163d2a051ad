"""The simulator's prompt-cache rule (Anthropic dialect): writes up to the last mark, by TTL."""

from __future__ import annotations

from typing import Any

import pytest

from corral.simulator.anthropic_dialect import cache_breakpoints, cache_writes
from corral.simulator.engine import BadRequest

HOUR = {"type": "ephemeral", "ttl": "1h"}
EPHEMERAL = {"type": "ephemeral"}


def _body(*marks: Any) -> dict[str, Any]:
    """System "S" * 400 (100 tokens), then a user turn of two 40-token blocks; marks in that order."""
    system, first, second = marks
    block = {"type": "text", "text": "S" * 400, **({"cache_control": system} if system else {})}
    content = [{"type": "text", "text": "a" * 160, **({"cache_control": first} if first else {})},
               {"type": "text", "text": "b" * 160, **({"cache_control": second} if second else {})}]
    return {"system": [block], "messages": [{"role": "user", "content": content}]}


def test_no_marks_no_writes() -> None:
    assert cache_writes(_body(None, None, None)) == (0, 0)


def test_writes_reach_the_last_mark_split_by_ttl() -> None:
    # "text" (4 chars) is a value of every block, so it counts: 101 tokens, then 142, then 183.
    assert cache_breakpoints(_body(HOUR, None, EPHEMERAL)) == [(101, "1h"), (183, "5m")]
    assert cache_writes(_body(HOUR, None, EPHEMERAL)) == (82, 101)
    assert cache_writes(_body(None, EPHEMERAL, None)) == (142, 0)


def test_tool_result_blocks_count_once() -> None:
    result = {"type": "tool_result", "tool_use_id": "t", "cache_control": EPHEMERAL,
              "content": [{"type": "text", "text": "x" * 400}]}
    body = {"messages": [{"role": "user", "content": [result]}]}
    [(tokens, ttl)] = cache_breakpoints(body)
    assert ttl == "5m" and 100 < tokens < 110


def test_five_marks_are_anthropics_400() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": str(i), "cache_control": EPHEMERAL} for i in range(5)]}]}
    with pytest.raises(BadRequest, match="maximum of 4 blocks with cache_control"):
        cache_writes(body)
