"""Choosing the spans redaction applies: shared by redaction and request-wide propagation."""

from __future__ import annotations

from collections.abc import Iterable

from corral.privacy.types import Span


def select_spans(spans: Iterable[Span], length: int) -> list[Span]:
    """Valid, non-overlapping spans in text order; at a tie the longer, then higher-scored one."""
    ordered = sorted(
        (s for s in spans if 0 <= s.start < s.end <= length),
        key=lambda s: (s.start, -(s.end - s.start), -s.score),
    )
    chosen: list[Span] = []
    end = 0
    for span in ordered:
        if span.start >= end:
            chosen.append(span)
            end = span.end
    return chosen
